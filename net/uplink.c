/* sys-net's uplink: passt in a namespace, under its own uid, behind the guard. */
#include "uplink.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "netns.h"
#include "uplink-guard.h"
#include "uplink-route.h"
#include "util.h"

#define RESOLV_MAX (64 * 1024)
#define MAX_GUARDS 16

struct uplink {
	pid_t pid;
	int pidfd;
	bool reaped;
	uid_t uid;
	int qemu_fd;
	int netns_fd;
	dev_t ns_dev;
	ino_t ns_ino;
	struct uplink_addrs addrs;
	struct uplink *next;
};

/* Running uplinks of this process: uids in use, and how many hold each namespace's guard. */
static struct uplink *uplinks;

size_t uplink_resolv_parse(const char *text, struct in_addr *dns, size_t max)
{
	size_t n = 0;
	const char *line = text;

	while (line && *line && n < max) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char buf[128], addr[INET_ADDRSTRLEN + 1];
		struct in_addr a;

		if (len < sizeof(buf)) {
			memcpy(buf, line, len);
			buf[len] = '\0';
			if (sscanf(buf, " nameserver %16s", addr) == 1 &&
			    inet_pton(AF_INET, addr, &a) == 1 && (ntohl(a.s_addr) >> 24) != 127 &&
			    a.s_addr != INADDR_ANY) {
				bool dup = false;
				for (size_t i = 0; i < n; i++)
					dup = dup || dns[i].s_addr == a.s_addr;
				if (!dup)
					dns[n++] = a;
			}
		}
		line = end ? end + 1 : NULL;
	}
	return n;
}

static int read_small_file(const char *path, char **ret)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;

	if (fd < 0)
		return -errno;
	buf = malloc(RESOLV_MAX + 1);
	if (!buf)
		return -ENOMEM;
	while (len < RESOLV_MAX) {
		ssize_t n = read(fd, buf + len, RESOLV_MAX - len);
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	return 0;
}

static int read_resolvers(const struct uplink_config *cfg, struct uplink_addrs *a)
{
	char nspath[sizeof("/etc/netns//resolv.conf") + NETNS_NAME_MAX];
	const char *paths[3];
	size_t n_paths = 0;

	if (cfg->resolv_conf) {
		paths[n_paths++] = cfg->resolv_conf;
	} else {
		if (cfg->netns) {
			snprintf(nspath, sizeof(nspath), "/etc/netns/%s/resolv.conf", cfg->netns);
			if (access(nspath, F_OK) == 0)
				paths[n_paths++] = nspath;
		}
		if (n_paths == 0) {
			paths[n_paths++] = "/etc/resolv.conf";
			/* A host with systemd-resolved lists only its stub (127.0.0.53): its
			 * upstreams are here. */
			paths[n_paths++] = "/run/systemd/resolve/resolv.conf";
		}
	}
	for (size_t i = 0; i < n_paths && a->n_dns == 0; i++) {
		_cleanup_free_ char *text = NULL;
		int r = read_small_file(paths[i], &text);
		if (r == -ENOENT && i > 0)
			continue;
		if (r < 0)
			return r;
		a->n_dns = uplink_resolv_parse(text, a->dns, UPLINK_MAX_DNS);
	}
	return 0;
}

void uplink_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

int uplink_passt_argv(const char *passt, const struct uplink_addrs *a,
		      const struct port_forwards *forwards, char ***ret_argv)
{
	_cleanup_free_ char *tcp =
	    forwards ? port_forwards_passt_spec(forwards, FW_PROTO_TCP) : NULL;
	_cleanup_free_ char *udp =
	    forwards ? port_forwards_passt_spec(forwards, FW_PROTO_UDP) : NULL;
	char ip[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN], ip6[INET6_ADDRSTRLEN], gw6[INET6_ADDRSTRLEN];
	char prefix[8], mtu[16], fd[8];
	char dns[UPLINK_MAX_DNS][INET_ADDRSTRLEN];
	const char *v[48];
	size_t n = 0;

	inet_ntop(AF_INET, &a->ip4, ip, sizeof(ip));
	inet_ntop(AF_INET, &a->gw4, gw, sizeof(gw));
	snprintf(prefix, sizeof(prefix), "%u", a->prefix4);
	snprintf(mtu, sizeof(mtu), "%u", a->mtu);
	snprintf(fd, sizeof(fd), "%d", UPLINK_PASST_FD);

	v[n++] = passt;
	/* Foreground, messages to bulkheadd's stderr (the journal), errors only. */
	v[n++] = "--foreground";
	v[n++] = "--stderr";
	v[n++] = "--quiet";
	/* --fd also makes passt quit when sys-net's end closes: a fresh one is plugged. */
	v[n++] = "--fd";
	v[n++] = fd;
	/* No inbound ports but the forwards a user set: nothing else on the host side listens for
	 * sys-net. */
	v[n++] = "--tcp-ports";
	v[n++] = tcp ? tcp : "none";
	v[n++] = "--udp-ports";
	v[n++] = udp ? udp : "none";
	/* The gateway address is the real gateway, never the host's loopback. */
	v[n++] = "--no-map-gw";
	v[n++] = "--address";
	v[n++] = ip;
	v[n++] = "--netmask";
	v[n++] = prefix;
	v[n++] = "--gateway";
	v[n++] = gw;
	if (a->has_ip6) {
		inet_ntop(AF_INET6, &a->ip6, ip6, sizeof(ip6));
		inet_ntop(AF_INET6, &a->gw6, gw6, sizeof(gw6));
		v[n++] = "--address";
		v[n++] = ip6;
		v[n++] = "--gateway";
		v[n++] = gw6;
		/* Addresses come from bulkheadd, never from passt's DHCPv6 or router adverts. */
		v[n++] = "--no-dhcpv6";
		v[n++] = "--no-ra";
	} else {
		v[n++] = "--ipv4-only";
	}
	v[n++] = "--mtu";
	v[n++] = mtu;
	v[n++] = "--no-dhcp-search";
	/* Exactly the resolvers the guard lets through; never passt's own reading of a file. */
	if (a->n_dns == 0) {
		v[n++] = "--dns";
		v[n++] = "none";
	}
	for (size_t i = 0; i < a->n_dns && i < UPLINK_MAX_DNS; i++) {
		inet_ntop(AF_INET, &a->dns[i], dns[i], sizeof(dns[i]));
		v[n++] = "--dns";
		v[n++] = dns[i];
	}
	v[n] = NULL;

	char **argv = calloc(n + 1, sizeof(char *));
	if (!argv)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		argv[i] = strdup(v[i]);
		if (!argv[i]) {
			uplink_argv_free(argv);
			return -ENOMEM;
		}
	}
	*ret_argv = argv;
	return 0;
}

static uid_t pick_uid(void)
{
	for (uid_t uid = UPLINK_UID_FIRST; uid <= UPLINK_UID_LAST; uid++) {
		bool used = false;
		for (struct uplink *u = uplinks; u && !used; u = u->next)
			used = u->uid == uid;
		if (!used)
			return uid;
	}
	return 0;
}

static size_t guard_holders(dev_t dev, ino_t ino)
{
	size_t n = 0;
	for (struct uplink *u = uplinks; u; u = u->next)
		n += u->ns_dev == dev && u->ns_ino == ino;
	return n;
}

/* One table per namespace: the resolvers of every running uplink there, plus extra's (one
 * being started). */
static int guard_rebuild(int netns_fd, dev_t dev, ino_t ino, const struct uplink *extra,
			 char **ret_error)
{
	struct in_addr dns[(MAX_GUARDS + 1) * UPLINK_MAX_DNS];
	size_t n = 0;

	for (struct uplink *u = uplinks; u; u = u->next)
		for (size_t i = 0; u->ns_dev == dev && u->ns_ino == ino && i < u->addrs.n_dns; i++)
			dns[n++] = u->addrs.dns[i];
	for (size_t i = 0; extra && i < extra->addrs.n_dns; i++)
		dns[n++] = extra->addrs.dns[i];
	struct uplink_guard_config g = {
	    .uid_first = UPLINK_UID_FIRST, .uid_last = UPLINK_UID_LAST, .dns4 = dns, .n_dns4 = n};
	return uplink_guard_install(netns_fd, &g, ret_error);
}

/* After an uplink left the list: the table without its resolvers, or none. */
static void guard_release(int netns_fd, dev_t dev, ino_t ino)
{
	if (guard_holders(dev, ino) == 0)
		uplink_guard_remove(netns_fd, NULL);
	else
		guard_rebuild(netns_fd, dev, ino, NULL, NULL);
}

/* In the child: namespace, uid, parent death, descriptors, then passt. Never returns. */
static _Noreturn void exec_passt(const struct uplink *u, int passt_fd, pid_t parent, char **argv)
{
	sigset_t none;
	int devnull;

	if (setns(u->netns_fd, CLONE_NEWNET) < 0)
		_exit(127);
	if (setgroups(0, NULL) < 0 || setresgid(u->uid, u->uid, u->uid) < 0 ||
	    setresuid(u->uid, u->uid, u->uid) < 0 || setresuid(0, 0, 0) == 0)
		_exit(127);
	/* After the uid change, which clears it; a parent gone already is caught by getppid. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		_exit(127);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(2, 1) < 0 ||
	    dup2(passt_fd, UPLINK_PASST_FD) < 0)
		_exit(127);
	close_range(UPLINK_PASST_FD + 1, ~0u, 0);
	execv(argv[0], argv);
	_exit(127);
}

int uplink_start(const struct uplink_config *cfg, struct uplink **ret, char **ret_error)
{
	const char *passt = cfg->passt ? cfg->passt : UPLINK_PASST;
	_cleanup_close_ int netns_fd = -1;
	struct uplink_route route;
	struct stat st;
	char **argv = NULL;
	int sv[2], r;

	if (cfg->netns && !netns_name_valid(cfg->netns))
		return -EINVAL;
	if (cfg->uid && (cfg->uid < UPLINK_UID_FIRST || cfg->uid > UPLINK_UID_LAST))
		return -EINVAL;
	if (cfg->mtu && (cfg->mtu < 576 || cfg->mtu > 65520))
		return -EINVAL;
	if (access(passt, X_OK) < 0)
		return -errno;
	netns_fd = netns_open(cfg->netns);
	if (netns_fd < 0)
		return netns_fd;
	if (fstat(netns_fd, &st) < 0)
		return -errno;
	uid_t uid = cfg->uid ? cfg->uid : pick_uid();
	if (uid == 0)
		return -EBUSY;
	for (struct uplink *u = uplinks; u; u = u->next)
		if (u->uid == uid)
			return -EBUSY;
	if (guard_holders(st.st_dev, st.st_ino) + 1 > MAX_GUARDS)
		return -EBUSY;

	r = uplink_route_query(netns_fd, &route);
	if (r < 0)
		return r;
	_cleanup_free_ struct uplink *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	*u = (struct uplink){.pid = -1,
			     .pidfd = -1,
			     .uid = uid,
			     .qemu_fd = -1,
			     .netns_fd = -1,
			     .ns_dev = st.st_dev,
			     .ns_ino = st.st_ino,
			     .addrs = {.ip4 = route.ip4,
				       .gw4 = route.gw4,
				       .prefix4 = route.prefix4,
				       .has_ip6 = route.has_ip6,
				       .ip6 = route.ip6,
				       .gw6 = route.gw6,
				       .prefix6 = route.prefix6,
				       .mtu = cfg->mtu ? cfg->mtu : UPLINK_DEFAULT_MTU}};
	u->netns_fd = netns_fd;
	r = read_resolvers(cfg, &u->addrs);
	if (r < 0)
		return r;
	r = uplink_passt_argv(passt, &u->addrs, cfg->forwards, &argv);
	if (r < 0)
		return r;

	/* The guard first: passt never runs unguarded. */
	r = guard_rebuild(u->netns_fd, u->ns_dev, u->ns_ino, u, ret_error);
	if (r < 0) {
		uplink_argv_free(argv);
		return r;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		goto fail_guard;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		r = -errno;
		close(sv[0]);
		close(sv[1]);
		goto fail_guard;
	}
	if (pid == 0)
		exec_passt(u, sv[1], parent, argv);
	close(sv[1]);
	uplink_argv_free(argv);
	argv = NULL;
	u->pid = pid;
	u->qemu_fd = sv[0];
	u->pidfd = pidfd_open(pid, 0);
	if (u->pidfd < 0) {
		r = -errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(u->qemu_fd);
		goto fail_guard;
	}
	netns_fd = -1; /* now u's */
	u->next = uplinks;
	uplinks = u;
	*ret = TAKE_PTR(u);
	return 0;

fail_guard:
	uplink_argv_free(argv);
	guard_release(u->netns_fd, u->ns_dev, u->ns_ino);
	return r;
}

int uplink_take_qemu_fd(struct uplink *u)
{
	if (u->qemu_fd < 0)
		return -EBADF;
	return TAKE_FD(u->qemu_fd);
}

pid_t uplink_pid(const struct uplink *u)
{
	return u->pid;
}

uid_t uplink_uid(const struct uplink *u)
{
	return u->uid;
}

int uplink_pidfd(const struct uplink *u)
{
	return u->pidfd;
}

const struct uplink_addrs *uplink_addrs(const struct uplink *u)
{
	return &u->addrs;
}

static int decode_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int uplink_reap(struct uplink *u, int *ret_status)
{
	int status;

	if (u->reaped)
		return -ECHILD;
	pid_t p = waitpid(u->pid, &status, WNOHANG);
	if (p < 0)
		return -errno;
	if (p == 0)
		return -EAGAIN;
	u->reaped = true;
	*ret_status = decode_status(status);
	return 0;
}

void uplink_stop(struct uplink *u)
{
	if (!u)
		return;
	if (!u->reaped) {
		/* The pidfd names this very process even if its pid were reused. */
		if (pidfd_send_signal(u->pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
			kill(u->pid, SIGKILL);
		while (waitpid(u->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	for (struct uplink **p = &uplinks; *p; p = &(*p)->next)
		if (*p == u) {
			*p = u->next;
			break;
		}
	guard_release(u->netns_fd, u->ns_dev, u->ns_ino);
	if (u->qemu_fd >= 0)
		close(u->qemu_fd);
	close(u->pidfd);
	close(u->netns_fd);
	free(u);
}
