/* libFuzzer target: Route 53's REST-XML answers (aws/r53_xml.c, expat).
 * Every input goes through all three parsers, whole and, selected by the
 * first byte, fed to expat in small pieces (r53_xml_feed_max) so split
 * character data is exercised too.  A parsed list is round-tripped through
 * r53_rrset_copy / r53_rrset_equal / r53_build_change_batch. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/r53_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    r53_xml_feed_max = 0;
    if (size > 0 && data[0] == '\n') {   /* a leading newline: feed in 1..16-byte pieces */
        r53_xml_feed_max = 1 + (size % 16);
    }
    const char *xml = (const char *)data;

    r53_list_t l;
    memset(&l, 0, sizeof(l));
    if (r53_parse_list(xml, size, &l, err, sizeof(err)) == 0) {
        for (size_t i = 0; i < l.n; i++) {
            r53_rrset_t c;
            memset(&c, 0, sizeof(c));
            if (r53_rrset_copy(&c, &l.sets[i]) == 0) {
                if (!r53_rrset_equal(&c, &l.sets[i]))
                    abort();   /* a copy must equal its source */
                r53_rrset_clear(&c);
            }
        }
        if (l.n > 0) {
            r53_change_item_t it = {"UPSERT", &l.sets[0]};
            free(r53_build_change_batch("fuzz", &it, 1));
        }
    }
    r53_list_free(&l);

    r53_change_t ch;
    r53_parse_change(xml, size, &ch, err, sizeof(err));

    r53_error_t e;
    r53_parse_error(xml, size, &e);
    r53_xml_feed_max = 0;
    return 0;
}
