#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

static const char *log_ident = "bulkhead";
static enum log_level log_level = LOG_LVL_INFO;

void log_set_ident(const char *ident)
{
	log_ident = ident;
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const prefix[] = {"error", "warning", "info", "debug"};
	int saved = errno;
	va_list ap;

	if (level > log_level)
		return;
	/* One fprintf per line so lines from concurrent writers do not interleave. */
	char line[2048];
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s: %s\n", log_ident, prefix[level], line);
	errno = saved;
}
