/* iam — the least-privilege IAM policy a config needs
 * (`regiond --print-iam-policy --config PATH`). */
#ifndef REGIOND_IAM_H
#define REGIOND_IAM_H

#include <stdio.h>

#include "config/cfg.h"

/* The policy document as JSON text (malloc'd), NULL on OOM. */
char *iam_policy(const cfg_t *cfg);

/* What the operator must create besides the policy (the heartbeat table), as shell lines on f. */
void iam_print_notes(const cfg_t *cfg, FILE *f);

#endif
