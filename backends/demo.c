/* demo.c — setting up the demo datacenter, see demo.h. */
#include "demo.h"

#include <glib/gstdio.h>

char *vdc_demo_prepare(struct vdc_config *cfg, GError **err)
{
    char *dir = g_dir_make_tmp("vdcfs-demo-XXXXXX", err);
    if (!dir)
        return NULL;
    for (const struct vdc_demo_host *h = vdc_demo_hosts; h->name; h++) {
        g_autofree char *path = g_build_filename(dir, h->name, NULL);
        g_autofree char *file = g_strdup_printf("%s.xml", path);
        if (!g_file_set_contents(file, h->xml, (gssize)h->len, err)) {
            vdc_demo_cleanup(dir);
            g_free(dir);
            return NULL;
        }
        g_autofree char *uri = g_strdup_printf("test://%s", file);
        vdc_config_add_host(cfg, h->name, uri);
    }
    return dir;
}

void vdc_demo_cleanup(const char *dir)
{
    for (const struct vdc_demo_host *h = vdc_demo_hosts; h->name; h++) {
        g_autofree char *file = g_strdup_printf("%s/%s.xml", dir, h->name);
        g_unlink(file);
    }
    g_rmdir(dir);
}
