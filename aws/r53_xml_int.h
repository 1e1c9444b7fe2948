/* r53_xml_int — what r53_xml.c (the parsers) and r53_xml_build.c (the
 * builder and the rrset helpers) share.  Not for other modules: they use
 * r53_xml.h. */
#ifndef REGIOND_R53_XML_INT_H
#define REGIOND_R53_XML_INT_H

#include "aws/r53_xml.h"

#endif
