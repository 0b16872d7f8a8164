/* Interfaces, addresses, routes and neighbours of the qube. */
#include "link.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "subprocess.h"
#include "util.h"

/* The interface with that MAC; of several, the newest (highest ifindex): when a link is plugged
 * again (its netvm restarted), the new NIC carries the same MAC while the guest may still be
 * letting go of the old one. */
int link_find_by_mac(const uint8_t mac[6], char ifname[16])
{
	DIR *d = opendir("/sys/class/net");
	struct dirent *de;
	unsigned best = 0;
	int r = -ENODEV;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char path[300], buf[32] = "";
		uint8_t m[6];
		unsigned idx;
		FILE *f;

		if (de->d_name[0] == '.' || strlen(de->d_name) >= 16)
			continue;
		snprintf(path, sizeof(path), "/sys/class/net/%s/address", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f))
			buf[strcspn(buf, "\n")] = 0;
		fclose(f);
		if (!parse_mac(buf, m) || memcmp(m, mac, 6) != 0)
			continue;
		idx = if_nametoindex(de->d_name);
		if (r < 0 || idx > best) {
			strcpy(ifname, de->d_name);
			best = idx;
			r = 0;
		}
	}
	closedir(d);
	return r;
}

int link_ip(bool exists_ok, char **ret_error, ...)
{
	const char *argv[24] = {"ip"};
	_cleanup_free_ char *out = NULL;
	size_t n = 1;
	va_list ap;
	int r;

	va_start(ap, ret_error);
	for (const char *a; (a = va_arg(ap, const char *)) && n < ARRAY_SIZE(argv) - 1;)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	r = spawn_wait(argv, &out);
	if (r == 0)
		return 0;
	if (r > 0 && exists_ok && out && (strstr(out, "exists") || strstr(out, "already assigned")))
		return 0;
	{
		char *cmd = xstrdup("ip"), *t;
		for (size_t i = 1; i < n; i++) {
			t = xasprintf("%s %s", cmd, argv[i]);
			free(cmd);
			cmd = t;
		}
		if (out)
			out[strcspn(out, "\n")] = 0;
		*ret_error = xasprintf("%s: %s", cmd, r < 0 ? strerror(-r) : out ? out : "failed");
		free(cmd);
	}
	return r < 0 ? r : -EIO;
}

int link_neigh_permanent(const char *ifname, int family, const void *addr, const uint8_t mac[6])
{
	struct {
		struct nlmsghdr nh;
		struct ndmsg ndm;
		char attrs[64];
	} req;
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	char reply[512];
	unsigned idx = if_nametoindex(ifname);
	size_t alen = family == AF_INET ? 4 : 16;
	struct rtattr *rta;
	_cleanup_close_ int fd = -1;
	ssize_t k;

	if (!idx)
		return -ENODEV;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg));
	req.nh.nlmsg_type = RTM_NEWNEIGH;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
	req.nh.nlmsg_seq = 1;
	req.ndm.ndm_family = (uint8_t)family;
	req.ndm.ndm_ifindex = (int)idx;
	req.ndm.ndm_state = NUD_PERMANENT;
	rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
	rta->rta_type = NDA_DST;
	rta->rta_len = (unsigned short)RTA_LENGTH(alen);
	memcpy(RTA_DATA(rta), addr, alen);
	req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);
	rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
	rta->rta_type = NDA_LLADDR;
	rta->rta_len = (unsigned short)RTA_LENGTH(6);
	memcpy(RTA_DATA(rta), mac, 6);
	req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	k = recv(fd, reply, sizeof(reply), 0);
	if (k < 0)
		return -errno;
	if ((size_t)k >= sizeof(struct nlmsghdr) + sizeof(struct nlmsgerr)) {
		struct nlmsghdr *h = (struct nlmsghdr *)reply;
		if (h->nlmsg_type == NLMSG_ERROR)
			return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
	}
	return -EPROTO;
}

int link_sysctl(const char *path, const char *value)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	return write_all(fd, value, strlen(value));
}

int link_write_resolv(const char *path, const struct in_addr *dns, size_t n)
{
	_cleanup_free_ char *tmp = xasprintf("%s.bulkhead-tmp", path);
	char *text = xstrdup("# written by bulkhead-net-apply\n"), *t;
	int fd, r = 0;

	for (size_t i = 0; i < n; i++) {
		char a[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &dns[i], a, sizeof(a));
		t = xasprintf("%snameserver %s\n", text, a);
		free(text);
		text = t;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		r = write_all(fd, text, strlen(text));
		if (r == 0 && fsync(fd) < 0)
			r = -errno;
		close(fd);
		if (r == 0 && rename(tmp, path) == 0)
			goto out;
		r = -errno;
		unlink(tmp);
		if (r != -EBUSY)
			goto out;
	}
	/* a bind mount cannot be renamed over: write it in place */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = write_all(fd, text, strlen(text));
	close(fd);
out:
	free(text);
	return r;
}
