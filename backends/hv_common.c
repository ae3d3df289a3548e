/* hv_common.c — constructors and destructors of the hv.h facts, and the
 * words of states and power actions. */
#include <string.h>

#include "hv.h"

const char *vdc_vm_state_word(enum vdc_vm_state s)
{
    switch (s) {
    case VDC_VM_RUNNING:
        return "running";
    case VDC_VM_BLOCKED:
        return "blocked";
    case VDC_VM_PAUSED:
        return "paused";
    case VDC_VM_SHUTOFF:
        return "shutoff";
    case VDC_VM_CRASHED:
        return "crashed";
    case VDC_VM_SUSPENDED:
        return "suspended";
    case VDC_VM_UNKNOWN:
        break;
    }
    return "unknown";
}

void hv_disk_free(struct hv_disk *d)
{
    if (!d)
        return;
    g_free(d->target);
    g_free(d->bus);
    g_free(d->device);
    g_free(d->path);
    g_free(d->pool);
    g_free(d->volume);
    g_free(d->protocol);
    g_free(d->name);
    g_free(d->host);
    g_free(d);
}

void hv_iface_free(struct hv_iface *i)
{
    if (!i)
        return;
    g_free(i->mac);
    g_free(i->network);
    g_free(i->bridge);
    g_free(i);
}

struct hv_vm *hv_vm_new(void)
{
    struct hv_vm *vm = g_new0(struct hv_vm, 1);
    vm->disks = g_ptr_array_new_with_free_func((GDestroyNotify)hv_disk_free);
    vm->interfaces = g_ptr_array_new_with_free_func((GDestroyNotify)hv_iface_free);
    return vm;
}

void hv_vm_free(struct hv_vm *vm)
{
    if (!vm)
        return;
    g_free(vm->name);
    g_free(vm->description);
    g_free(vm->domain_xml);
    if (vm->disks)
        g_ptr_array_free(vm->disks, TRUE);
    if (vm->interfaces)
        g_ptr_array_free(vm->interfaces, TRUE);
    g_free(vm);
}

void hv_volume_free(struct hv_volume *v)
{
    if (!v)
        return;
    g_free(v->name);
    g_free(v->path);
    g_free(v->type);
    g_free(v);
}

struct hv_pool *hv_pool_new(void)
{
    struct hv_pool *p = g_new0(struct hv_pool, 1);
    p->volumes = g_ptr_array_new_with_free_func((GDestroyNotify)hv_volume_free);
    return p;
}

void hv_pool_free(struct hv_pool *p)
{
    if (!p)
        return;
    g_free(p->name);
    g_free(p->type);
    g_free(p->state);
    if (p->volumes)
        g_ptr_array_free(p->volumes, TRUE);
    g_free(p);
}

void hv_host_info_free(struct hv_host_info *h)
{
    if (!h)
        return;
    g_free(h->hypervisor);
    g_free(h->hypervisor_version);
    g_free(h->libvirt_version);
    g_free(h->domain_type);
    g_free(h);
}

/* Indexed by enum hv_power_action. */
static const char *const power_words[] = {
    [HV_POWER_START] = "start",       [HV_POWER_START_PAUSED] = "start-paused",
    [HV_POWER_SHUTDOWN] = "shutdown", [HV_POWER_DESTROY] = "destroy",
    [HV_POWER_REBOOT] = "reboot",     [HV_POWER_SUSPEND] = "suspend",
    [HV_POWER_RESUME] = "resume",
};

const char *hv_power_word(enum hv_power_action a)
{
    unsigned i = (unsigned)a;
    return i < G_N_ELEMENTS(power_words) && power_words[i] ? power_words[i] : "unknown";
}

enum hv_power_action hv_power_parse(const char *word)
{
    if (!word)
        return 0;
    for (unsigned i = 0; i < G_N_ELEMENTS(power_words); i++)
        /* start-paused is the reconciler's own, never a word written to
         * vms/<vm>/power. */
        if (power_words[i] && i != HV_POWER_START_PAUSED && strcmp(word, power_words[i]) == 0)
            return (enum hv_power_action)i;
    return 0;
}
