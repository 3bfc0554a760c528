/* fuzz_config: libFuzzer entry point for config_load() and config_dump().
 *
 * Any input must either load, or be refused with a message that names the file. A config
 * that loads must dump, and its dump must load and dump to the same text (after the first
 * line, which names the file). Seed corpus: tests/fuzz/corpus/config/. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_path[64];

/* Writes data to this process' scratch file (mode 0600, so literal secrets load). */
static void write_scratch(const void *data, size_t size)
{
    if (!g_path[0]) {
        snprintf(g_path, sizeof g_path, "/tmp/ipamwatch-fuzz-config.XXXXXX");
        int fd = mkstemp(g_path);
        if (fd < 0)
            abort();
        close(fd);
    }
    FILE *f = fopen(g_path, "w");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort();
}

static char *dump(const struct config *cfg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f || config_dump(cfg, f) != 0 || fclose(f) != 0)
        abort();
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024] = "";
    write_scratch(data, size);
    struct config *cfg = config_load(g_path, NULL, 0, err, sizeof err);
    if (!cfg) {
        if (strncmp(err, g_path, strlen(g_path)) != 0)
            abort();
        return 0;
    }
    char *first = dump(cfg);
    config_free(cfg);
    write_scratch(first, strlen(first));
    cfg = config_load(g_path, NULL, 0, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "dump does not reload: %s\n%s", err, first);
        abort();
    }
    char *second = dump(cfg);
    if (strcmp(strchr(first, '\n'), strchr(second, '\n')) != 0) {
        fprintf(stderr, "dump changed on reload:\n%s\n----\n%s", first, second);
        abort();
    }
    free(first);
    free(second);
    config_free(cfg);
    return 0;
}
