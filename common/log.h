/* Logging for programs (never for library code: it returns -errno and the caller logs once). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_set_ident(const char *ident);
void log_set_level(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/*
 * Strings a qube chose (service names, targets, agent versions, error texts) go through
 * log_escape before they are logged, so that none can forge a line or a field: control
 * characters, '\\', DEL and bytes that are not part of valid UTF-8 are written as \xNN. The
 * result is cut at size - 1 bytes (a cut never splits an escape or a character; "..." marks it).
 * Returns buf. s NULL gives "(null)".
 */
#define LOG_ESCAPE_SIZE 1024
const char *log_escape(char *buf, size_t size, const char *s);
/* For one argument of one log call: the buffer lives until the end of the enclosing block. */
#define LOG_ESC(s) log_escape((char[LOG_ESCAPE_SIZE]){0}, LOG_ESCAPE_SIZE, (s))

/*
 * A limit on lines about one source (a qube's denied calls): at most `burst` lines per
 * `interval_ms`; the rest are counted. log_ratelimit_allow says whether this line may be logged;
 * when it may, *ret_suppressed is how many were held back since the last line logged (the
 * caller says so in one line). now_ms is a monotonic clock the caller reads (a parameter so
 * that tests need no clock).
 */
struct log_ratelimit {
	uint64_t window_start_ms;
	unsigned in_window;  /* lines logged in the current window */
	unsigned suppressed; /* lines held back since the last line logged */
	bool started;
};
bool log_ratelimit_allow(struct log_ratelimit *rl, unsigned burst, uint64_t interval_ms,
			 uint64_t now_ms, unsigned *ret_suppressed);
