/* libFuzzer target: the config loader (config/cfg.c and its sections).
 * The input is a whole config file; cfg_parse validates it and builds a
 * cfg_t, which is then freed.  Covers the JSON reader, every section's
 * validator and the error paths.  Secrets named by the config (file:, env:,
 * credential:) are read at load time: a fuzzed path may name a real file,
 * which is harmless (read-only). */
#include <stddef.h>
#include <stdint.h>

#include "config/cfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[CFG_ERR_SIZE];
    cfg_t *c = cfg_parse((const char *)data, size, "fuzz.json", err, sizeof(err));
    if (c)
        cfg_free(c);
    return 0;
}
