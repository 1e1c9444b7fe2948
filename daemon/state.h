/* state — small files in state_dir, written atomically (temp, fsync, rename). */
#ifndef REGIOND_STATE_H
#define REGIOND_STATE_H

#include <stddef.h>

/* Create the directory if missing (mode 0750).  0 or -1 with err filled. */
int state_init(const char *dir, char *err, size_t errlen);

/* Write name inside state_dir atomically.  0 or -1 (logged). */
int state_write(const char *name, const char *data, size_t len);

/* Read name inside state_dir into a new NUL-terminated buffer (free it);
 * NULL when missing or unreadable (errno set). */
char *state_read(const char *name, size_t *len);

/* The directory in use. */
const char *state_dir(void);

void state_fini(void);

#endif
