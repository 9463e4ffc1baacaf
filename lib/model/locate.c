/* locate.c - where the default model lives.
 *
 * Order: $M2T_MODEL; then, for a program running from this build tree, the
 * source tree's models/ (so nothing needs installing to try it); else the
 * installed models/ under the prefix. Each models/ folder names its default
 * model in the file DEFAULT (one line: a file name in that folder).
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"

#ifndef M2T_SOURCE_MODEL_DIR
#define M2T_SOURCE_MODEL_DIR "models"
#endif
#ifndef M2T_INSTALLED_MODEL_DIR
#define M2T_INSTALLED_MODEL_DIR "/usr/local/share/m2t/models"
#endif
#ifndef M2T_BUILD_ROOT
#define M2T_BUILD_ROOT ""
#endif

static char default_path[PATH_MAX];

static int running_from_build_tree(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    size_t root_len = strlen(M2T_BUILD_ROOT);
    if (n <= 0 || root_len == 0)
        return 0;
    exe[n] = '\0';
    return strncmp(exe, M2T_BUILD_ROOT, root_len) == 0 && exe[root_len] == '/';
}

/* dir/DEFAULT names the model file; "" if unreadable. */
static int read_default(const char *dir, char *out, size_t out_size)
{
    char path[PATH_MAX], name[256];
    snprintf(path, sizeof path, "%s/DEFAULT", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int ok = fgets(name, sizeof name, f) != NULL;
    fclose(f);
    if (!ok)
        return -1;
    name[strcspn(name, "\r\n")] = '\0';
    if (name[0] == '\0' || strchr(name, '/'))
        return -1;
    int n = snprintf(out, out_size, "%s/%s", dir, name);
    return n > 0 && (size_t)n < out_size ? 0 : -1;
}

M2T_API const char *m2t_default_model_path(void)
{
    const char *env = getenv(M2T_MODEL_ENV);
    if (env && env[0])
        return env;
    int from_build = running_from_build_tree();
    const char *first = from_build ? M2T_SOURCE_MODEL_DIR : M2T_INSTALLED_MODEL_DIR;
    const char *second = from_build ? M2T_INSTALLED_MODEL_DIR : M2T_SOURCE_MODEL_DIR;
    if (read_default(first, default_path, sizeof default_path) == 0 &&
        access(default_path, R_OK) == 0)
        return default_path;
    if (read_default(second, default_path, sizeof default_path) == 0 &&
        access(default_path, R_OK) == 0)
        return default_path;
    snprintf(default_path, sizeof default_path, "%s/DEFAULT", first);
    return default_path;
}
