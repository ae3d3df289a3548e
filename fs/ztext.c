/* ztext.c — deflated text with a libvirt XML dictionary, see ztext.h. */
#include "ztext.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>

/* What domain XML and our status.json are made of: deflate finds these
 * strings here instead of spelling them out in every VM.  Changing it
 * changes the packed form, which never leaves the process.  Deflate looks
 * back 32 KiB, and the most common strings are best placed last. */
static const char dictionary[] =
    "<domain type='kvm' id=''><name></name><uuid></uuid><title></title>"
    "<description></description><metadata></metadata>"
    "<memory unit='KiB'></memory><currentMemory unit='KiB'></currentMemory>"
    "<vcpu placement='static'></vcpu><resource><partition>/machine</partition></resource>"
    "<os><type arch='x86_64' machine='pc-q35-'>hvm</type><boot dev='hd'/></os>"
    "<features><acpi/><apic/></features><cpu mode='host-passthrough' check='none'/>"
    "<clock offset='utc'/><on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot>"
    "<on_crash>destroy</on_crash><devices><emulator>/usr/bin/qemu-system-x86_64</emulator>"
    "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file=''/>"
    "<target dev='vda' bus='virtio'/><alias name='virtio-disk0'/>"
    "<address type='pci' domain='0x0000' bus='0x00' slot='0x00' function='0x0'/></disk>"
    "<disk type='volume' device='disk'><source pool='' volume=''/></disk>"
    "<disk type='network' device='disk'><source protocol='iscsi' name=''>"
    "<host name='' port='3260'/></source></disk><disk type='file' device='cdrom'>"
    "<target dev='sda' bus='sata'/><readonly/></disk>"
    "<controller type='usb' index='0' model='qemu-xhci'/><controller type='pci' index='0' "
    "model='pcie-root'/><interface type='network'><mac address='52:54:00:'/>"
    "<source network='default'/><target dev='vnet0'/><model type='virtio'/></interface>"
    "<interface type='bridge'><source bridge=''/></interface><serial type='pty'>"
    "<target port='0'/></serial><console type='pty'><target type='serial' port='0'/></console>"
    "<graphics type='vnc' port='-1' autoport='yes'><listen type='address'/></graphics>"
    "<video><model type='virtio' heads='1' primary='yes'/></video>"
    "<memballoon model='virtio'></memballoon></devices></domain>\n"
    "{\n  \"name\": \"\",\n  \"uuid\": \"\",\n  \"host\": \"\",\n  \"state\": \"shutoff\",\n"
    "  \"state\": \"paused\",\n  \"state\": \"running\",\n  \"vcpus\": 1,\n  \"memory_kib\": 1048576,\n"
    "  \"autostart\": false,\n  \"persistent\": true,\n  \"disks\": [\n    {\n"
    "      \"target\": \"vda\",\n      \"bus\": \"virtio\",\n      \"device\": \"disk\",\n"
    "      \"source\": {\n        \"file\": \"/var/lib/libvirt/images/\"\n      }\n    },\n"
    "      \"source\": {\n        \"protocol\": \"iscsi\",\n        \"name\": \"iqn.\",\n"
    "        \"host\": \"\",\n        \"port\": 3260\n      }\n    }\n  ],\n"
    "      \"source\": {\n        \"pool\": \"default\",\n        \"volume\": \".img\"\n      }\n"
    "    }\n  ],\n  \"interfaces\": [\n    {\n      \"mac\": \"52:54:00:\",\n"
    "      \"network\": \"default\"\n    }\n  ]\n}\n";

#define HEADER 4

static void put_len(guint8 *p, uint32_t n)
{
    p[0] = (guint8)(n >> 24), p[1] = (guint8)(n >> 16), p[2] = (guint8)(n >> 8), p[3] = (guint8)n;
}

static uint32_t get_len(const guint8 *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

GBytes *vdc_ztext_pack(const char *text, size_t len)
{
    /* libvirt's RPC caps a string at 64 MiB: the length fits 32 bits. */
    g_assert(len <= UINT32_MAX);
    z_stream z = {0};
    uLong bound = compressBound((uLong)len);
    guint8 *out = g_malloc(HEADER + bound);
    put_len(out, (uint32_t)len);
    /* Raw deflate (no zlib header: the dictionary is ours, not negotiated).
     * With the output bound, deflate cannot fail but for lack of memory,
     * which GLib turns into an abort anyway. */
    int rc = deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    g_assert(rc == Z_OK);
    deflateSetDictionary(&z, (const Bytef *)dictionary, sizeof dictionary - 1);
    z.next_in = (Bytef *)text;
    z.avail_in = (uInt)len;
    z.next_out = out + HEADER;
    z.avail_out = (uInt)bound;
    rc = deflate(&z, Z_FINISH);
    g_assert(rc == Z_STREAM_END);
    size_t packed = HEADER + z.total_out;
    deflateEnd(&z);
    return g_bytes_new_take(g_realloc(out, packed), packed);
}

GBytes *vdc_ztext_unpack(GBytes *packed)
{
    gsize n;
    const guint8 *p = g_bytes_get_data(packed, &n);
    if (n < HEADER)
        return g_bytes_new_static("", 0);
    uint32_t len = get_len(p);
    guint8 *text = g_malloc(len ? len : 1);
    z_stream z = {0};
    bool ok = inflateInit2(&z, -15) == Z_OK;
    if (ok) {
        inflateSetDictionary(&z, (const Bytef *)dictionary, sizeof dictionary - 1);
        z.next_in = (Bytef *)p + HEADER;
        z.avail_in = (uInt)(n - HEADER);
        z.next_out = text;
        z.avail_out = len;
        ok = inflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out == len;
        inflateEnd(&z);
    }
    if (!ok) {
        g_free(text);
        return g_bytes_new_static("", 0);
    }
    return g_bytes_new_take(text, len);
}

size_t vdc_ztext_size(GBytes *packed)
{
    gsize n;
    const guint8 *p = g_bytes_get_data(packed, &n);
    return n < HEADER ? 0 : get_len(p);
}
