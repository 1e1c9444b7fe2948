/* iam — the least-privilege IAM policy a config needs
 * (`regiond --print-iam-policy --config PATH`). */
#ifndef REGIOND_IAM_H
#define REGIOND_IAM_H

#include "cfg.h"

/* The policy document as JSON text (malloc'd), NULL on OOM. */
char *iam_policy(const cfg_t *cfg);

#endif
