/* Small helpers shared by every Bulkhead program: scoped cleanup, ownership hand-over. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Hand ownership of *p to the caller and leave NULL behind, so cleanup does nothing. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _p = (p);                                                            \
		(p) = NULL;                                                                        \
		_p;                                                                                \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _fd = (fd);                                                                    \
		(fd) = -1;                                                                         \
		_fd;                                                                               \
	})

static inline void freep(void *p)
{
	free(*(void **)p);
}
static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define _cleanup_(f)	 __attribute__((cleanup(f)))
#define _cleanup_free_	 _cleanup_(freep)
#define _cleanup_close_	 _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}
static inline bool streq_ptr(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

/* malloc that aborts: out of memory in a daemon is not a recoverable input error. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Sets *ret_error (when not NULL) to the formatted message and returns r: the one shape of the
 * parsers' "return -EINVAL with a reason" exits. */
int error_msg(char **ret_error, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Write all of buf; retries on EINTR. Returns 0 or -errno. */
int write_all(int fd, const void *buf, size_t len);
/* Read exactly len bytes; returns 0, -EPIPE at early EOF, or -errno. */
int read_exact(int fd, void *buf, size_t len);

/* CLOCK_MONOTONIC in milliseconds: for intervals and deadlines, never for wall time. */
uint64_t monotonic_ms(void);
