/* 1,000 firewall rules for one qube: the whole net qube table with that client's chain applied
 * in one libnftables transaction (what bulkhead-net-apply does), against a naive tool that runs
 * one `nft add rule` per rule. Run inside a network namespace of its own (bench/firewall/run).
 * Prints both times, the ratio and the targets (>= 20x, < 50 ms); asserts nothing. */
#include <arpa/inet.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "firewall-rule.h"
#include "nft-firewall.h"
#include "nft-netvm.h"
#include "subprocess.h"
#include "util.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int n_rules = argc > 1 ? atoi(argv[1]) : 1000, reps = argc > 2 ? atoi(argv[2]) : 5;
	struct fw_rules rules = {NULL, 0};
	struct nft_fw_result fw;
	_cleanup_free_ char *table = NULL;
	double t_one[16], t0, t_naive;
	struct nft_ctx *ctx;

	if (n_rules < 1 || n_rules > FW_RULES_MAX || reps < 1 || reps > 16) {
		fprintf(stderr, "usage: bench-firewall [RULES (1-%d)] [REPEATS (1-16)]\n",
			FW_RULES_MAX);
		return 2;
	}
	for (int i = 0; i < n_rules; i++) {
		struct fw_rule r;
		fw_rule_init(&r);
		r.action = i % 10 == 9 ? FW_DROP : FW_ACCEPT;
		r.host_kind = FW_HOST_IP4;
		r.addr.v4.s_addr = htonl(0x0a000000u | (uint32_t)(i + 1));
		r.prefix = 32;
		r.proto = FW_PROTO_TCP;
		r.has_ports = true;
		r.port_lo = r.port_hi = (uint16_t)(1000 + i);
		fw_rules_append(&rules, &r);
	}
	struct nft_fw_input in = {.chain = "fw-work", .rules = &rules, .now = time(NULL)};
	if (nft_firewall_chain(&in, &fw) < 0)
		return 1;
	struct nft_downstream down = {
	    .ifname = "bench0", .fw_chain = "fw-work", .fw_text = fw.text};
	inet_pton(AF_INET, "10.137.0.7", &down.ip4);
	struct nft_netvm_input nv = {.uplink_if = "bench1", .down = &down, .n_down = 1};
	if (nft_netvm_table(&nv, &table) < 0)
		return 1;

	/* one transaction, as bulkhead-net-apply does it (compile included) */
	ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	for (int k = 0; k < reps; k++) {
		struct nft_fw_result fw2;
		char *t2 = NULL;
		t0 = now_ms();
		nft_firewall_chain(&in, &fw2);
		down.fw_text = fw2.text;
		nft_netvm_table(&nv, &t2);
		if (nft_run_cmd_from_buffer(ctx, t2) != 0) {
			fprintf(stderr, "nft: %s\n", nft_ctx_get_error_buffer(ctx));
			return 1;
		}
		t_one[k] = now_ms() - t0;
		free(t2);
		nft_fw_result_done(&fw2);
	}
	nft_ctx_free(ctx);
	qsort(t_one, (size_t)reps, sizeof(double), cmp_double);

	/* naive: one nft process per rule, into a table of its own */
	const char *mk[] = {"nft", "add table inet naive; add chain inet naive fw-work", NULL};
	const char *rm[] = {"nft", "delete table inet naive", NULL};
	spawn_wait(rm, NULL);
	t0 = now_ms();
	if (spawn_wait(mk, NULL) != 0)
		return 1;
	int n_cmds = 0;
	for (char *line = fw.text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		if (strncmp(line, "\t\t", 2) != 0 || line[2] == '#')
			continue;
		_cleanup_free_ char *cmd = xasprintf("add rule inet naive fw-work %s", line + 2);
		const char *argv2[] = {"nft", cmd, NULL};
		if (spawn_wait(argv2, NULL) != 0) {
			fprintf(stderr, "nft %s failed\n", cmd);
			return 1;
		}
		n_cmds++;
	}
	t_naive = now_ms() - t0;
	spawn_wait(rm, NULL);

	double med = t_one[reps / 2];
	printf("firewall: %d rules for one qube\n", n_rules);
	printf("  one transaction (libnftables, whole table): median %.1f ms of %d (min %.1f, max "
	       "%.1f)   target < 50 ms\n",
	       med, reps, t_one[0], t_one[reps - 1]);
	printf("  naive, one nft command per rule (%d commands): %.0f ms\n", n_cmds + 1, t_naive);
	printf("  ratio: %.0fx   target >= 20x\n", t_naive / med);
	fw_rules_done(&rules);
	nft_fw_result_done(&fw);
	return 0;
}
