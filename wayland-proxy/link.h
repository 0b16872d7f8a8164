/* The link between the Wayland proxy's guest half (in the qube) and its host half: one ordered
 * byte stream (the qube's org.bulkhead.gui virtio-serial port, or a socketpair in tests) carrying
 * frames. All integers little-endian. Every field from the other side is checked against the
 * caps below before use; a violation ends the link (the host half then exits, which ends that
 * qube's GUI only).
 *
 * Frame: u32 type, u32 conn, u32 len, then len bytes of payload (len <= LINK_MAX_PAYLOAD).
 * conn names one Wayland client connection in the qube (1..LINK_MAX_CONNS, chosen by the guest
 * half at LINK_CONN_OPEN, never reused while open). Frames for a closed conn are ignored.
 *
 * Wayland messages cross unchanged (same object ids on both sides: each guest client has exactly
 * one compositor connection of its own), except file descriptors, which cannot cross. Each 'h'
 * argument of a message in a LINK_WL frame consumes, in order, one fd announcement sent earlier
 * on the same conn (LINK_FD_SHM, LINK_FD_FILE or LINK_FD_PIPE); the receiving side makes a local
 * descriptor from it and passes that on with the message. A message whose 'h' count does not
 * match the announcements queued ends the conn.
 */
#pragma once

#include <stdint.h>

#define LINK_HEADER_SIZE 12
#define LINK_MAX_PAYLOAD (1u << 20)
#define LINK_MAX_CONNS	 64
#define LINK_VERSION	 1

enum link_type {
	/* guest -> host, conn 0, first frame: u32 version. Host answers LINK_HELLO likewise. */
	LINK_HELLO = 1,
	/* guest -> host: a new client connected in the qube. */
	LINK_CONN_OPEN = 2,
	/* either way: that client (or its compositor connection) is gone, or was refused.
	 * payload: optional UTF-8 reason, for the log. */
	LINK_CONN_CLOSE = 3,
	/* either way: one or more complete Wayland wire messages (header + arguments, no fds). */
	LINK_WL = 4,
	/* guest -> host, precedes wl_shm.create_pool: u32 size. The host half makes a memfd of that
	 * size (capped) as the pool's host-side memory. wl_shm_pool.resize grows it. */
	LINK_FD_SHM = 5,
	/* host -> guest, precedes an event such as wl_keyboard.keymap: the file's whole contents
	 * (capped); the guest half makes a sealed memfd of them. */
	LINK_FD_FILE = 6,
	/* either way, precedes wl_data_offer.receive (guest -> host) or wl_data_source.send
	 * (host -> guest): u32 transfer id (chosen by the sender, unique among its open transfers
	 * on this conn; the host half's ids have LINK_PIPE_HOST_ID set, the guest half's do not,
	 * so that a LINK_PIPE_END names one transfer). The sender keeps the real fd it got (a
	 * pipe's write end). The receiver makes a pipe, passes its write end on with the message,
	 * reads the read end and sends LINK_PIPE_DATA then LINK_PIPE_END with that id back; the
	 * sender writes the data into the real fd and closes it at the end. At most
	 * LINK_MAX_PIPE_BYTES per transfer. */
	LINK_FD_PIPE = 7,
	/* payload: u32 transfer id, then bytes. */
	LINK_PIPE_DATA = 8,
	/* payload: u32 transfer id. Also sent back by the sender to abort. */
	LINK_PIPE_END = 9,
	/* guest -> host, before the wl_surface.commit it belongs to: new contents of part of an
	 * shm pool. payload: u32 pool object id, u32 offset, u32 row_len, u32 stride, u32 rows,
	 * u32 flags, then the rows: rows * row_len bytes, or with LINK_SHM_LZ4 an LZ4 block that
	 * decompresses to exactly that. Row i goes to pool offset + i * stride; the whole range
	 * must lie inside the pool's current size. */
	LINK_SHM_WRITE = 10,
};

#define LINK_SHM_LZ4	  1u
#define LINK_PIPE_HOST_ID 0x80000000u

/* Caps, per qube. Pools are sparse memfds on the host: their size is address space, and only
 * the pages written by LINK_SHM_WRITE or covered by a live wl_buffer take memory. So two caps:
 * address space (one pool, and all of a qube's pools, which the host half maps) and memory
 * (the pages allocated in all of a qube's pools: a wl_shm_pool.create_buffer allocates its
 * range, since the compositor reads it; a SHM_WRITE allocates the pages it touches; a
 * wl_buffer.destroy gives back the pages no other live buffer of its pool covers). A request
 * or frame that would pass a cap ends its conn. wl_shm_pool.destroy must come after the
 * destroy of every buffer made from the pool (the guest half holds it back), so that all the
 * memory the compositor may still read stays counted; earlier, it ends the conn. */
#define LINK_MAX_POOL_BYTES   (512u << 20) /* one pool; foot's default scrolling pool */
#define LINK_MAX_SHM_BYTES    (4ull << 30) /* address space of all pools of a qube */
#define LINK_MAX_SHM_RESIDENT (512u << 20) /* memory allocated in all pools of a qube */
#define LINK_MAX_BUFFER_BYTES (8192u * 8192u * 4u)
#define LINK_MAX_FILE_BYTES   (1u << 20)
#define LINK_MAX_PIPE_BYTES   (16u << 20)
#define LINK_MAX_OBJECTS      65536	  /* live objects per connection */
#define LINK_MAX_SURFACES     1024	  /* per connection */
#define LINK_MAX_QUEUED_BYTES (64u << 20) /* unsent bytes held for one qube */
