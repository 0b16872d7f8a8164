/* The parent's field checks of channel process messages: see qchan-check.h. */
#include "qchan-check.h"

#include <string.h>

#include "frame.h"

static bool printable(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return false;
	return true;
}

const char *qchan_msg_check(const struct qmsg *m)
{
	switch (m->type) {
	case QMSG_READY:
		return printable(m->str[0], 64) ? NULL : "a READY with a bad version";
	case QMSG_CALL:
		/* The channel process is as untrusted as its qube. */
		if (!(m->id & CHAN_STREAM_QUBE))
			return "a CALL on a host stream";
		if (!qmsg_token_valid(m->str[0]) || !qmsg_token_valid(m->str[1]))
			return "a CALL with a bad target or service";
		return NULL;
	case QMSG_CALL_END:
		return m->id & CHAN_STREAM_QUBE ? NULL : "a CALL_END on a host stream";
	case QMSG_MEMINFO:
		return m->len == 8 ? NULL : "a MEMINFO of the wrong size";
	case QMSG_SERVICE_END:
	case QMSG_EXEC_END:
	case QMSG_ECHO_REPLY:
		return NULL;
	default:
		return "an unexpected message";
	}
}
