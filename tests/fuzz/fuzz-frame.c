/* Fuzz target for the frame codec: arbitrary bytes through the decoder in uneven chunks, and
 * every payload parser on each frame it yields (and on the raw input). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "fuzz.h"

/* Chunk sizes come from the input itself so a saved input replays the same way. */
static uint32_t next_chunk(uint32_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	return *state;
}

static void check_payload(const uint8_t *p, size_t len)
{
	struct chan_hello h;
	char *storage;
	const char *user;
	char **argv;
	size_t argc;
	uint32_t v, kind;
	int32_t value;

	if (chan_hello_parse(p, len, &h) == 0) {
		uint8_t out[4 + 64];
		size_t n;
		if (strlen(h.peer_version) != len - 4)
			abort();
		/* what parsed must encode back to the same bytes */
		if (chan_hello_encode(h.peer_version, out, sizeof(out), &n) < 0 || n != len ||
		    memcmp(out + 4, p + 4, len - 4) != 0)
			abort();
	}

	if (chan_exec_parse(p, len, &storage, &user, &argv, &argc) == 0) {
		uint8_t *out;
		size_t n;
		if (argc < 1 || argc > CHAN_MAX_ARGS || argv[argc] != NULL)
			abort();
		if (chan_exec_encode(user, (const char *const *)argv, &out, &n) < 0 || n != len ||
		    memcmp(out, p, len) != 0)
			abort();
		free(out);
		free(storage);
		free(argv);
	}

	if (chan_u32_parse(p, len, &v) == 0 && len != 4)
		abort();
	if (chan_exit_parse(p, len, &kind, &value) == 0 && len != 8)
		abort();

	/* RPC_CALL and SERVICE payloads: every string parsed must be within its limit and the
	 * whole must re-encode to the same bytes. */
	for (size_t n = 2; n <= 4; n += 2) {
		char strbuf[4 * (CHAN_STRING_MAX + 1)];
		const char *strs[4];
		uint8_t again[4 * (CHAN_STRING_MAX + 1)];
		size_t again_len;
		if (len > sizeof(strbuf) || chan_strings_parse(p, len, n, strbuf, strs) < 0)
			continue;
		for (size_t i = 0; i < n; i++)
			if (strlen(strs[i]) > CHAN_STRING_MAX)
				abort();
		if (chan_strings_encode(strs, n, again, sizeof(again), &again_len) < 0 ||
		    again_len != len || memcmp(again, p, len) != 0)
			abort();
	}
}

static void run_decoder(const uint8_t *data, size_t size, uint32_t max_payload, uint32_t seed)
{
	static struct chan_decoder d;
	size_t off = 0;

	chan_decoder_init(&d, max_payload);
	while (off < size) {
		size_t chunk = 1 + next_chunk(&seed) % 300;
		if (chunk > size - off)
			chunk = size - off;
		size_t done = 0;
		while (done < chunk) {
			struct chan_frame f;
			size_t used;
			int r = chan_decoder_feed(&d, data + off + done, chunk - done, &used, &f);
			if (used > chunk - done)
				abort();
			done += used;
			if (r < 0)
				return;
			if (r == 1) {
				if (f.len > max_payload)
					abort();
				(void)chan_type_name(f.type);
				check_payload(f.payload, f.len);
			} else if (used == 0)
				abort(); /* no progress without a frame or an error */
		}
		off += chunk;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t seed = 2166136261u;

	for (size_t i = 0; i < size && i < 64; i++)
		seed = (seed ^ data[i]) * 16777619u;
	if (!seed)
		seed = 1;

	run_decoder(data, size, CHAN_MAX_PAYLOAD, seed);
	run_decoder(data, size, 64, seed);
	check_payload(data, size);
	return 0;
}
