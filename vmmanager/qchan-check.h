/* bulkheadd's second look at each message from a channel process: the table (qmsg_recv) has
 * checked type, direction, length and descriptor; this checks every field against what
 * bulkheadd will do with it. Pure, so the fuzz target runs exactly this. */
#pragma once

#include <stdbool.h>

#include "qmsg.h"

/* Returns NULL when m may be acted on, else why not. */
const char *qchan_msg_check(const struct qmsg *m);
