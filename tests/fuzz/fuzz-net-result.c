/* Fuzz target for what a qube sends back from its bulkhead-net-apply run, the whole path
 * bulkheadd takes: arbitrary bytes through the frame decoder in uneven chunks, each frame into
 * exec_output_frame (stdout capped), and when the run ends, its stdout through net_result_parse
 * and every client's state list through net_fw_status_copy. The input's first byte, when it is
 * '{', skips the framing: the stdout text itself. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exec-output.h"
#include "frame.h"
#include "fuzz.h"
#include "net-result.h"
#include "qube-exec.h"

static void check_result(const char *out)
{
	struct net_result res;

	if (net_result_parse(out, &res) < 0)
		return;
	if (res.firewall) {
		json_object_object_foreach(res.firewall, client, list)
		{
			(void)client;
			struct json_object *c = net_fw_status_copy(list);
			if (c) {
				size_t n = json_object_array_length(c);
				assert(n > 0 && n <= NET_FW_STATUS_MAX_RULES);
				for (size_t i = 0; i < n; i++) {
					struct json_object *e = json_object_array_get_idx(c, i), *r;
					if (json_object_object_get_ex(e, "reason", &r))
						assert(strlen(json_object_get_string(r)) <=
						       NET_FW_STATUS_MAX_REASON);
				}
			}
			json_object_put(c);
		}
	}
	assert(res.ok || !res.firewall);
	net_result_done(&res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[QUBE_EXEC_STDOUT_MAX + 1];
	struct exec_output o = {.buf = buf, .max = QUBE_EXEC_STDOUT_MAX};
	static struct chan_decoder dec; /* large: not on the stack */
	uint32_t chunk_state = 0x9e3779b9u ^ (uint32_t)size;

	if (size > 0 && data[0] == '{') {
		size_t n = size < QUBE_EXEC_STDOUT_MAX ? size : QUBE_EXEC_STDOUT_MAX;
		memcpy(buf, data, n);
		buf[n] = '\0';
		check_result(buf);
		return 0;
	}
	chan_decoder_init(&dec, CHAN_MAX_PAYLOAD);
	for (size_t off = 0; off < size;) {
		struct chan_frame f;
		size_t used = 0;
		int status = 0;
		/* uneven chunks, derived from the input so a saved input replays the same way */
		chunk_state ^= chunk_state << 13;
		chunk_state ^= chunk_state >> 17;
		chunk_state ^= chunk_state << 5;
		size_t chunk = 1 + chunk_state % 64;
		if (chunk > size - off)
			chunk = size - off;
		int r = chan_decoder_feed(&dec, data + off, chunk, &used, &f);
		off += used;
		if (r < 0)
			break;
		if (r == 0) {
			if (!used)
				break;
			continue;
		}
		r = exec_output_frame(&o, &f, &status);
		assert(o.len <= o.max);
		if (r < 0)
			break;
		if (r == 1) {
			assert(status >= 0 && status <= 255);
			buf[o.len] = '\0';
			check_result(buf);
			break;
		}
	}
	return 0;
}
