/* The nftables guard around passt: its text, and installing or removing it with libnftables. */
#include "uplink-guard.h"

#include <arpa/inet.h>
#include <nftables/libnftables.h>
#include <stdio.h>

#include "netns.h"
#include "util.h"

int uplink_guard_text(const struct uplink_guard_config *c, char **ret)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return -errno;
	if (c->uid_first > c->uid_last) {
		fclose(f);
		return -EINVAL;
	}
	/* Output hook: passt's own connections start here. Only full sockets carry a uid; the
	 * time-wait leftovers of its connections pass, they open nothing. A drop here is final
	 * whatever other tables accept. */
	fprintf(f, "table inet %s {\n", UPLINK_GUARD_TABLE);
	fprintf(f, "\tchain output {\n");
	fprintf(f, "\t\ttype filter hook output priority filter; policy accept;\n");
	if (c->uid_first == c->uid_last)
		fprintf(f, "\t\tmeta skuid %u jump passt\n", (unsigned)c->uid_first);
	else
		fprintf(f, "\t\tmeta skuid %u-%u jump passt\n", (unsigned)c->uid_first,
			(unsigned)c->uid_last);
	fprintf(f, "\t}\n\n");
	fprintf(f, "\tchain passt {\n");
	/* Answers on connections someone else opened to passt (an inbound forward, perhaps from
	 * this host): passt opened nothing there. */
	fprintf(f, "\t\tct direction reply accept\n");
	for (size_t i = 0; i < c->n_dns4; i++) {
		char a[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &c->dns4[i], a, sizeof(a));
		fprintf(f, "\t\tip daddr %s udp dport 53 accept\n", a);
		fprintf(f, "\t\tip daddr %s tcp dport 53 accept\n", a);
	}
	/* fib follows the namespace's addresses as they change: no list to keep in sync. */
	fprintf(f, "\t\tfib daddr type { local, broadcast, multicast } jump refuse\n");
	fprintf(f, "\t\tip daddr 127.0.0.0/8 jump refuse\n");
	fprintf(f, "\t\tip6 daddr ::1 jump refuse\n");
	fprintf(f, "\t}\n\n");
	/* A reset makes passt's connect() fail at once, so sys-net's client gets a refusal
	 * instead of waiting for a silent drop to time out. */
	fprintf(f, "\tchain refuse {\n");
	fprintf(f, "\t\tmeta l4proto tcp reject with tcp reset\n");
	fprintf(f, "\t\tdrop\n");
	fprintf(f, "\t}\n");
	fprintf(f, "}\n");
	if (fclose(f) != 0)
		return -ENOMEM;
	*ret = TAKE_PTR(buf);
	return 0;
}

/* Runs text through libnftables inside the namespace (the netlink socket is made there). */
static int run_in(int netns_fd, const char *text, char **ret_error)
{
	int orig, r;

	r = netns_enter(netns_fd, &orig);
	if (r < 0)
		return r;
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx) {
		r = -ENOMEM;
	} else {
		nft_ctx_buffer_output(ctx);
		nft_ctx_buffer_error(ctx);
		r = nft_run_cmd_from_buffer(ctx, text) == 0 ? 0 : -EIO;
		if (r < 0 && ret_error) {
			const char *e = nft_ctx_get_error_buffer(ctx);
			*ret_error = strdup(e ? e : "");
		}
		nft_ctx_free(ctx);
	}
	int r2 = netns_leave(orig);
	return r < 0 ? r : r2;
}

int uplink_guard_install(int netns_fd, const struct uplink_guard_config *c, char **ret_error)
{
	_cleanup_free_ char *table = NULL, *text = NULL;
	int r = uplink_guard_text(c, &table);

	if (r < 0)
		return r;
	/* Create-then-delete makes the replacement one transaction whether or not it existed. */
	if (asprintf(&text, "table inet %s\ndelete table inet %s\n%s", UPLINK_GUARD_TABLE,
		     UPLINK_GUARD_TABLE, table) < 0)
		return -ENOMEM;
	return run_in(netns_fd, text, ret_error);
}

int uplink_guard_remove(int netns_fd, char **ret_error)
{
	return run_in(netns_fd,
		      "table inet " UPLINK_GUARD_TABLE "\ndelete table inet " UPLINK_GUARD_TABLE
		      "\n",
		      ret_error);
}
