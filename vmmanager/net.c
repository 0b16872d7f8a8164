/* Networking, bulkheadd's side (net.h). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <time.h>

#include <json-c/json.h>
#include <libvirt/libvirt.h>

#include "addr.h"
#include "api.h"
#include "backend.h"
#include "daemon.h"
#include "firewall-rule.h"
#include "firewall-store.h"
#include "host-prefs.h"
#include "lifecycle.h"
#include "log.h"
#include "net-result.h"
#include "net.h"
#include "qchan.h"
#include "qube-exec.h"
#include "qube.h"
#include "uplink.h"
#include "util.h"

/* Starts of sys-net's uplink (passt) that may fail in a row before bulkheadd stops trying until
 * the qube restarts: a passt that dies at once must not spin the event loop. */
#define UPLINK_TRIES 3
/* A refused configuration is tried again this often, this many times in a row: a NIC plugged a
 * moment ago takes the guest a few seconds to show. */
#define REFUSED_RETRY_MS  3000
#define REFUSED_RETRY_MAX 5
/* How far ahead a qube may ask to be configured again; sooner than a second is a second. */
#define REAPPLY_MAX_S (24 * 3600)

struct net_link {
	struct net_link *next;
	char *client, *netvm;
	char *client_dev, *netvm_dev; /* device ids in each QEMU */
};

/* Per qube: its configuration being applied, and when again. */
struct net_qube {
	struct net_qube *next;
	struct daemon *d;
	char *name;
	bool uplink;		       /* its uplink is plugged (uplink_plug) */
	struct uplink *uplink_proc;    /* passt, while plugged */
	char *uplink_dev;	       /* the NIC's device id in the qube's QEMU */
	int uplink_watch;	       /* passt's exit, on the event loop; -1 none */
	unsigned uplink_failures;      /* starts that failed in a row (UPLINK_TRIES) */
	char *uplink_ports;	       /* the inbound forwards passt listens on ("" none) */
	struct json_object *fw_status; /* as a client: its netvm's last word on its rules */
	bool applying;		       /* bulkhead-net-apply runs in it now */
	bool again;		       /* something changed meanwhile: run it once more after */
	int timer;		       /* next_apply; -1 when none */
	bool warned;		       /* said once that it has no bulkhead-net-apply */
	unsigned refusals; /* refused in a row (a NIC just plugged may not be in the guest yet) */
	/* Its stored inbound forwards, read once: net_sync asks for every qube's on each state
	 * change. NULL: not read yet; dropped by net_forwards_changed, the one place they change.
	 */
	struct port_forwards *forwards;
};

struct net_state {
	struct net_link *links;
	struct net_qube *qubes;
};

static struct net_state *state(struct daemon *d)
{
	if (!d->net)
		d->net = xcalloc(1, sizeof(struct net_state));
	return d->net;
}

unsigned net_hotplug_ports(const struct qube *q)
{
	return q->provides_network ? NET_PORTS_NETVM : NET_PORTS_CLIENT;
}

/* ---- whose netvm is whom ---- */

/* A change being checked: q's netvm set to netvm (NULL none), or reset (follows the default);
 * or default_netvm set. */
struct what_if {
	const struct qube *q;
	bool reset;
	const char *netvm;
	bool set_default;
	const char *default_netvm;
};

static const char *netvm_name_if(struct daemon *d, const struct qube *q, const struct what_if *w)
{
	bool is_default;
	if (w && w->q == q) {
		if (!w->reset)
			return w->netvm;
		is_default = true;
	} else {
		if (qube_prop_get(q, "netvm", NULL, &is_default) < 0)
			return NULL;
	}
	if (!is_default)
		return q->netvm;
	if (q->klass == QUBE_TEMPLATEVM)
		return NULL; /* as in Qubes: templates are updated through a proxy, not a netvm */
	const char *def = w && w->set_default ? w->default_netvm : d->host_prefs.default_netvm;
	if (!def || streq(def, q->name))
		return NULL;
	return def;
}

const char *net_netvm_name(struct daemon *d, const struct qube *q)
{
	return netvm_name_if(d, q, NULL);
}

struct vm *net_netvm_of(struct daemon *d, const struct qube *q)
{
	const char *n = net_netvm_name(d, q);
	return n ? daemon_find_vm(d, n) : NULL;
}

/* 0 if no qube's chain loops or runs longer than NET_CHAIN_MAX under w; else -ELOOP with
 * the chain in *ret_message. */
static int check_chains(struct daemon *d, const struct what_if *w, char **ret_message)
{
	for (size_t i = 0; i < d->n_vms; i++) {
		const struct qube *start = d->vms[i]->q, *q = start;
		_cleanup_free_ char *path = xstrdup(start->name);
		for (unsigned hops = 0;; hops++) {
			const char *n = netvm_name_if(d, q, w);
			struct vm *next = n ? daemon_find_vm(d, n) : NULL;
			if (!next)
				break;
			char *p = xasprintf("%s -> %s", path, n);
			free(path);
			path = p;
			if (next->q == start) {
				*ret_message =
				    xasprintf("this would make a loop of netvms: %s", path);
				return -ELOOP;
			}
			if (hops >= NET_CHAIN_MAX) {
				*ret_message = xasprintf("this would make a chain of more than %u "
							 "netvms: %s",
							 NET_CHAIN_MAX, path);
				return -ELOOP;
			}
			q = next->q;
		}
	}
	return 0;
}

static int check_serves(struct daemon *d, const char *name, char **ret_message)
{
	struct vm *n = daemon_find_vm(d, name);
	if (!n) {
		*ret_message = xasprintf("no qube named '%s'", name);
		return -ENOENT;
	}
	if (!n->q->provides_network) {
		*ret_message = xasprintf("'%s' does not provide network (set its provides_network "
					 "to True first: bulkhead prefs %s provides_network True)",
					 name, name);
		return -EINVAL;
	}
	return 0;
}

int net_check_netvm(struct daemon *d, const struct qube *q, const char *value, char **ret_message)
{
	struct what_if w = {.q = q, .reset = !value, .netvm = value};
	if (value && streq(value, q->name)) {
		*ret_message = xasprintf("a qube cannot be its own netvm");
		return -ELOOP;
	}
	if (value) {
		int r = check_serves(d, value, ret_message);
		if (r < 0)
			return r;
	}
	return check_chains(d, &w, ret_message);
}

int net_check_default_netvm(struct daemon *d, const char *value, char **ret_message)
{
	struct what_if w = {.set_default = true, .default_netvm = value};
	if (value) {
		int r = check_serves(d, value, ret_message);
		if (r < 0)
			return r;
	}
	return check_chains(d, &w, ret_message);
}

int net_check_provides_network(struct daemon *d, const struct qube *q, bool value,
			       char **ret_message)
{
	if (value)
		return 0;
	_cleanup_free_ char *users = NULL;
	for (size_t i = 0; i < d->n_vms; i++) {
		if (!streq_ptr(net_netvm_name(d, d->vms[i]->q), q->name))
			continue;
		char *u =
		    xasprintf("%s%s%s", users ? users : "", users ? ", " : "", d->vms[i]->q->name);
		free(users);
		users = u;
	}
	if (users) {
		*ret_message = xasprintf("'%s' is the netvm of %s; give them another netvm first",
					 q->name, users);
		return -EBUSY;
	}
	if (streq_ptr(d->host_prefs.default_netvm, q->name)) {
		*ret_message = xasprintf("'%s' is the default_netvm; change that first", q->name);
		return -EBUSY;
	}
	return 0;
}

char *net_running_clients(struct daemon *d, const struct vm *vm)
{
	char *users = NULL;
	for (size_t i = 0; i < d->n_vms; i++) {
		struct vm *c = d->vms[i];
		if (c->state == VM_HALTED || c->state == VM_HALTING ||
		    !streq_ptr(net_netvm_name(d, c->q), vm->q->name))
			continue;
		char *u = xasprintf("%s%s%s", users ? users : "", users ? ", " : "", c->q->name);
		free(users);
		users = u;
	}
	return users;
}

int net_start_chain(struct daemon *d, struct vm *vm, char **ret_error_name, char **ret_message)
{
	const char *name = net_netvm_name(d, vm->q);
	if (!name)
		return 0;
	struct vm *n = daemon_find_vm(d, name);
	if (!n) {
		*ret_error_name = xstrdup(API_E_VM);
		*ret_message = xasprintf("the netvm of '%s', '%s', does not exist (set another: "
					 "bulkhead prefs %s netvm NAME, or none)",
					 vm->q->name, name, vm->q->name);
		return -ENOENT;
	}
	if (n->state != VM_HALTED)
		return 0;
	log_info("starting %s, the netvm of %s", name, vm->q->name);
	_cleanup_free_ char *err = NULL, *msg = NULL;
	/* vm_start starts n's own netvm first, and so on up the chain (which cannot loop). */
	int r = vm_start(d, n, &err, &msg);
	if (r < 0) {
		*ret_error_name = TAKE_PTR(err);
		*ret_message =
		    xasprintf("cannot start '%s', the netvm of '%s': %s", name, vm->q->name, msg);
	}
	return r;
}

/* ---- links ---- */

static bool is_up(const struct vm *vm)
{
	return vm && vm->state == VM_RUNNING && qchan_ready(vm);
}

static struct net_link *link_find(struct net_state *s, const char *client)
{
	for (struct net_link *l = s->links; l; l = l->next)
		if (streq(l->client, client))
			return l;
	return NULL;
}

static void link_free(struct net_link *l)
{
	free(l->client);
	free(l->netvm);
	free(l->client_dev);
	free(l->netvm_dev);
	free(l);
}

static void mark(struct daemon *d, const char *name);
static struct net_qube *nq_get(struct daemon *d, const char *name);
static struct net_qube *nq_find(struct daemon *d, const char *name);
static void nq_free(struct net_qube *nq);

static void unplug_side(struct daemon *d, const char *qube, char **dev)
{
	struct vm *vm = daemon_find_vm(d, qube);
	if (*dev && vm && vm->state != VM_HALTED) {
		int r = backend_nic_unplug(d, qube, *dev);
		if (r < 0)
			log_warn("cannot unplug network link %s from %s: %s", *dev, qube,
				 strerror(-r));
	}
	free(*dev);
	*dev = NULL;
}

/* ---- sys-net's uplink: passt (net/uplink.h) on a stream socketpair into its QEMU ---- */

static void uplink_release(struct daemon *d, struct net_qube *nq)
{
	if (nq->uplink_watch >= 0)
		virEventRemoveHandle(nq->uplink_watch);
	nq->uplink_watch = -1;
	unplug_side(d, nq->name, &nq->uplink_dev);
	uplink_stop(nq->uplink_proc);
	nq->uplink_proc = NULL;
	nq->uplink = false;
}

static void uplink_exited(int watch, int fd, int events, void *opaque)
{
	struct net_qube *nq = opaque;
	struct daemon *d = nq->d;
	int status = -1;

	(void)watch, (void)fd, (void)events;
	if (uplink_reap(nq->uplink_proc, &status) == -EAGAIN)
		return;
	log_warn("the uplink of %s (passt) exited with status %d; plugging a new one", nq->name,
		 status);
	nq->uplink_failures++;
	uplink_release(d, nq);
	net_sync(d);
}

/* The stored inbound forwards of q (none when its file is unreadable: nothing opens by mistake). */
static void forwards_of(struct daemon *d, const struct qube *q, struct port_forwards *ret)
{
	struct net_qube *nq = nq_get(d, q->name);
	if (!nq->forwards) {
		_cleanup_free_ char *err = NULL;
		nq->forwards = xcalloc(1, sizeof(*nq->forwards));
		if (firewall_load(d->store, q->name, NULL, nq->forwards, &err) < 0)
			nq->forwards->n = 0;
	}
	*ret = *nq->forwards;
}

/* What passt of the uplink qube u listens on: the forwards of every qube whose chain of netvms
 * ends at u, by configuration rather than by what runs, so that passt (which holds sys-net's
 * connections) is not restarted whenever a client starts or stops. */
static void uplink_forwards(struct daemon *d, const struct qube *u, struct port_forwards *ret)
{
	ret->n = 0;
	for (size_t i = 0; i < d->n_vms; i++) {
		const struct qube *q = d->vms[i]->q, *end = q;
		struct vm *next;
		const char *n;
		if (q == u)
			continue;
		for (unsigned hops = 0; hops <= NET_CHAIN_MAX && (n = net_netvm_name(d, end)) &&
					(next = daemon_find_vm(d, n));
		     hops++)
			end = next->q;
		if (end != u)
			continue;
		struct port_forwards mine;
		forwards_of(d, q, &mine);
		for (size_t k = 0; k < mine.n; k++)
			port_forwards_add(ret, &mine.v[k]);
	}
}

static char *ports_key(const struct port_forwards *f)
{
	_cleanup_free_ char *tcp = port_forwards_passt_spec(f, FW_PROTO_TCP);
	_cleanup_free_ char *udp = port_forwards_passt_spec(f, FW_PROTO_UDP);
	return xasprintf("tcp %s udp %s", tcp ? tcp : "none", udp ? udp : "none");
}

/* A qube with uplink set that provides network and has no netvm of its own gets passt. */
static int uplink_plug(struct daemon *d, struct vm *vm, struct net_qube *nq)
{
	struct port_forwards fwd;
	uplink_forwards(d, vm->q, &fwd);
	struct uplink_config cfg = {.netns = d->uplink_netns, .forwards = &fwd};
	_cleanup_free_ char *err = NULL, *msg = NULL;
	char mac[NET_MAC_STRLEN];
	int r, fd;

	if (nq->uplink_failures >= UPLINK_TRIES)
		return -EAGAIN;
	if (net_addr_qube_mac(vm->q->qid, mac) < 0)
		return -EINVAL;
	r = uplink_start(&cfg, &nq->uplink_proc, &err);
	if (r < 0) {
		nq->uplink_failures++;
		log_warn("%s gets no uplink%s: %s", vm->q->name,
			 nq->uplink_failures >= UPLINK_TRIES
			     ? " (not trying again until it restarts)"
			     : "",
			 err ? err : strerror(-r));
		return r;
	}
	fd = uplink_take_qemu_fd(nq->uplink_proc);
	r = backend_nic_plug(d, vm->q->name, net_hotplug_ports(vm->q), fd, true, mac,
			     &nq->uplink_dev, &msg);
	close(fd);
	if (r < 0) {
		nq->uplink_failures++;
		log_warn("%s gets no uplink: %s", vm->q->name, msg ? msg : strerror(-r));
		uplink_release(d, nq);
		return r;
	}
	nq->uplink_watch = virEventAddHandle(uplink_pidfd(nq->uplink_proc),
					     VIR_EVENT_HANDLE_READABLE, uplink_exited, nq, NULL);
	nq->uplink = true;
	free(nq->uplink_ports);
	nq->uplink_ports = ports_key(&fwd);
	log_info("uplink of %s plugged (%s): passt as uid %u in %s, inbound %s", vm->q->name,
		 nq->uplink_dev, (unsigned)uplink_uid(nq->uplink_proc),
		 d->uplink_netns ? d->uplink_netns : "the host's network namespace",
		 fwd.n ? nq->uplink_ports : "none");
	return 0;
}

static void link_plug(struct daemon *d, struct vm *client, struct vm *netvm)
{
	char cmac[NET_MAC_STRLEN], nmac[NET_MAC_STRLEN];
	int sv[2];

	if (net_addr_qube_mac(client->q->qid, cmac) < 0 ||
	    net_addr_netvm_link_mac(client->q->qid, nmac) < 0) {
		log_warn("%s has no qid; it gets no network link", client->q->name);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_warn("cannot make a network link for %s: %s", client->q->name, strerror(errno));
		return;
	}
	struct net_link *l = xcalloc(1, sizeof(*l));
	l->client = xstrdup(client->q->name);
	l->netvm = xstrdup(netvm->q->name);
	_cleanup_free_ char *msg = NULL;
	int r = backend_nic_plug(d, netvm->q->name, net_hotplug_ports(netvm->q), sv[0], false, nmac,
				 &l->netvm_dev, &msg);
	if (r >= 0) {
		free(msg);
		msg = NULL;
		r = backend_nic_plug(d, client->q->name, net_hotplug_ports(client->q), sv[1], false,
				     cmac, &l->client_dev, &msg);
	}
	/* Each QEMU has its own copy of its end now. */
	close(sv[0]);
	close(sv[1]);
	if (r < 0) {
		log_warn("no network link between %s and its netvm %s: %s", client->q->name,
			 netvm->q->name, msg ? msg : strerror(-r));
		unplug_side(d, l->netvm, &l->netvm_dev);
		link_free(l);
		return;
	}
	log_info("network link %s (%s) <-> %s (%s) plugged", client->q->name, l->client_dev,
		 netvm->q->name, l->netvm_dev);
	struct net_state *s = state(d);
	l->next = s->links;
	s->links = l;
	mark(d, l->client);
	mark(d, l->netvm);
}

void net_sync(struct daemon *d)
{
	struct net_state *s = state(d);

	/* Links that no longer match: a side stopped, or the client has another netvm now. */
	for (struct net_link **pl = &s->links; *pl;) {
		struct net_link *l = *pl;
		struct vm *c = daemon_find_vm(d, l->client), *n = daemon_find_vm(d, l->netvm);
		bool keep = c && n && c->state != VM_HALTED && c->state != VM_HALTING &&
			    n->state != VM_HALTED && n->state != VM_HALTING &&
			    streq_ptr(net_netvm_name(d, c->q), l->netvm);
		if (keep) {
			pl = &l->next;
			continue;
		}
		*pl = l->next;
		unplug_side(d, l->client, &l->client_dev);
		unplug_side(d, l->netvm, &l->netvm_dev);
		log_info("network link %s <-> %s unplugged", l->client, l->netvm);
		mark(d, l->client);
		mark(d, l->netvm);
		link_free(l);
	}
	/* Links that should be there. */
	for (size_t i = 0; i < d->n_vms; i++) {
		struct vm *c = d->vms[i];
		bool is_uplink = c->q->uplink && c->q->provides_network && !net_netvm_name(d, c->q);
		bool stopped = c->state == VM_HALTED || c->state == VM_HALTING;
		struct net_qube *nq = (is_uplink || stopped) ? nq_find(d, c->q->name) : NULL;
		if (nq && stopped)
			nq->uplink_failures = 0;
		if (nq && nq->uplink_proc && (stopped || !is_uplink)) {
			uplink_release(d, nq);
			mark(d, c->q->name);
		}
		if (is_uplink && is_up(c)) {
			nq = nq_get(d, c->q->name);
			if (nq->uplink && nq->uplink_proc) {
				/* passt cannot change its ports while it runs: a new one. */
				struct port_forwards fwd;
				uplink_forwards(d, c->q, &fwd);
				_cleanup_free_ char *key = ports_key(&fwd);
				if (!streq_ptr(key, nq->uplink_ports)) {
					log_info(
					    "the inbound forwards of %s's uplink changed (%s); "
					    "starting its passt again",
					    c->q->name, key);
					uplink_release(d, nq);
				}
			}
			if (!nq->uplink && uplink_plug(d, c, nq) == 0)
				mark(d, c->q->name);
		}
		if (!is_up(c) || link_find(s, c->q->name))
			continue;
		struct vm *n = net_netvm_of(d, c->q);
		if (is_up(n) && n->q->provides_network)
			link_plug(d, c, n);
	}
}

void net_vm_removed(struct daemon *d, struct vm *vm)
{
	struct net_state *s = state(d);
	for (struct net_qube **pq = &s->qubes; *pq; pq = &(*pq)->next) {
		struct net_qube *nq = *pq;
		if (!streq(nq->name, vm->q->name))
			continue;
		*pq = nq->next;
		if (nq->uplink_proc)
			uplink_release(d, nq);
		nq_free(nq);
		break;
	}
}

/* ---- what each qube is told ---- */

static struct json_object *jstr(const char *s)
{
	return json_object_new_string(s);
}

/* The client's rules as the firewall store keeps them (missing: a new qube's single accept);
 * unreadable or damaged is an empty list: everything dropped, failing closed. */
static struct json_object *firewall_rules(struct daemon *d, const struct qube *q)
{
	struct fw_rules rules = {NULL, 0};
	_cleanup_free_ char *err = NULL;
	int r = firewall_load(d->store, q->name, &rules, NULL, &err);
	if (r < 0) {
		log_warn("the firewall of %s cannot be used (%s); it gets nothing through", q->name,
			 err ? err : strerror(-r));
		return json_object_new_array();
	}
	struct json_object *o = fw_rules_to_json(&rules);
	fw_rules_done(&rules);
	return o;
}

static void add_addr(struct json_object *o, const char *key4, const char *key6,
		     const struct qube *q)
{
	char ip4[NET_IP4_STRLEN], ip6[NET_IP6_STRLEN];
	bool disp = q->klass == QUBE_DISPVM;
	if (net_addr_ip4(q->qid, disp, ip4) == 0)
		json_object_object_add(o, key4, jstr(ip4));
	if (key6 && net_addr_ip6(q->qid, disp, ip6) == 0)
		json_object_object_add(o, key6, jstr(ip6));
}

static struct json_object *dns_list(void)
{
	struct json_object *a = json_object_new_array();
	json_object_array_add(a, jstr(NET_VIRTUAL_DNS1));
	json_object_array_add(a, jstr(NET_VIRTUAL_DNS2));
	return a;
}

/* The inbound forwards a netvm sends down its link to client q: q's own (to their port in q)
 * and, passed on unchanged for q to map further, those of q's own linked clients. */
static void link_forwards(struct daemon *d, const struct qube *q, unsigned depth,
			  struct port_forwards *ret)
{
	struct port_forwards mine;
	forwards_of(d, q, &mine);
	for (size_t k = 0; k < mine.n; k++)
		port_forwards_add(ret, &mine.v[k]);
	if (!q->provides_network || depth >= NET_CHAIN_MAX)
		return;
	for (struct net_link *l = state(d)->links; l; l = l->next) {
		struct vm *c = streq(l->netvm, q->name) ? daemon_find_vm(d, l->client) : NULL;
		if (!c)
			continue;
		struct port_forwards theirs = {.n = 0};
		link_forwards(d, c->q, depth + 1, &theirs);
		for (size_t k = 0; k < theirs.n; k++) {
			struct port_forward f = theirs.v[k];
			f.to_port = f.port;
			port_forwards_add(ret, &f);
		}
	}
}

static struct json_object *config_for(struct daemon *d, struct vm *vm)
{
	struct net_state *s = state(d);
	const struct qube *q = vm->q;
	struct json_object *o = json_object_new_object();
	char mac[NET_MAC_STRLEN];

	json_object_object_add(o, "version", json_object_new_int(1));
	json_object_object_add(o, "qube", jstr(q->name));
	struct net_link *up = link_find(s, q->name);
	struct net_qube *nq;
	struct vm *n = up ? daemon_find_vm(d, up->netvm) : NULL;
	if (up && n && net_addr_qube_mac(q->qid, mac) == 0) {
		struct json_object *u = json_object_new_object();
		json_object_object_add(u, "kind", jstr("netvm"));
		json_object_object_add(u, "mac", jstr(mac));
		add_addr(u, "ip4", "ip6", q);
		json_object_object_add(u, "prefix4", json_object_new_int(32));
		add_addr(u, "gw4", "gw6", n->q);
		net_addr_netvm_link_mac(q->qid, mac);
		json_object_object_add(u, "gw_mac", jstr(mac));
		json_object_object_add(u, "dns", dns_list());
		json_object_object_add(u, "mtu", json_object_new_int(NET_MTU));
		json_object_object_add(o, "uplink", u);
	} else if ((nq = nq_find(d, q->name)) && nq->uplink && nq->uplink_proc &&
		   net_addr_qube_mac(q->qid, mac) == 0) {
		const struct uplink_addrs *a = uplink_addrs(nq->uplink_proc);
		char ip[INET_ADDRSTRLEN];
		struct json_object *u = json_object_new_object(), *dns = json_object_new_array();
		json_object_object_add(u, "kind", jstr("passt"));
		json_object_object_add(u, "mac", jstr(mac));
		json_object_object_add(u, "ip4", jstr(inet_ntop(AF_INET, &a->ip4, ip, sizeof(ip))));
		json_object_object_add(u, "prefix4", json_object_new_int((int)a->prefix4));
		json_object_object_add(u, "gw4", jstr(inet_ntop(AF_INET, &a->gw4, ip, sizeof(ip))));
		if (a->has_ip6) {
			char ip6[INET6_ADDRSTRLEN];
			json_object_object_add(
			    u, "ip6", jstr(inet_ntop(AF_INET6, &a->ip6, ip6, sizeof(ip6))));
			json_object_object_add(
			    u, "gw6", jstr(inet_ntop(AF_INET6, &a->gw6, ip6, sizeof(ip6))));
		}
		for (size_t i = 0; i < a->n_dns; i++)
			json_object_array_add(dns,
					      jstr(inet_ntop(AF_INET, &a->dns[i], ip, sizeof(ip))));
		json_object_object_add(u, "dns", dns);
		json_object_object_add(u, "mtu", json_object_new_int((int)a->mtu));
		json_object_object_add(o, "uplink", u);
	} else {
		json_object_object_add(o, "uplink", NULL);
	}
	json_object_object_add(o, "provides_network", json_object_new_boolean(q->provides_network));
	struct json_object *down = json_object_new_array();
	if (q->provides_network) {
		add_addr(o, "gateway_ip4", "gateway_ip6", q);
		json_object_object_add(o, "virtual_dns", dns_list());
		for (struct net_link *l = s->links; l; l = l->next) {
			struct vm *c =
			    streq(l->netvm, q->name) ? daemon_find_vm(d, l->client) : NULL;
			if (!c)
				continue;
			struct json_object *e = json_object_new_object();
			json_object_object_add(e, "name", jstr(c->q->name));
			net_addr_netvm_link_mac(c->q->qid, mac);
			json_object_object_add(e, "mac", jstr(mac));
			net_addr_qube_mac(c->q->qid, mac);
			json_object_object_add(e, "client_mac", jstr(mac));
			add_addr(e, "client_ip4", "client_ip6", c->q);
			json_object_object_add(e, "firewall", firewall_rules(d, c->q));
			struct port_forwards fwd = {.n = 0};
			link_forwards(d, c->q, 0, &fwd);
			if (fwd.n)
				json_object_object_add(e, "forwards", port_forwards_to_json(&fwd));
			json_object_array_add(down, e);
		}
	}
	json_object_object_add(o, "downstream", down);
	return o;
}

static struct net_qube *nq_find(struct daemon *d, const char *name)
{
	for (struct net_qube *nq = state(d)->qubes; nq; nq = nq->next)
		if (streq(nq->name, name))
			return nq;
	return NULL;
}

static void nq_free(struct net_qube *nq)
{
	if (nq->timer >= 0)
		virEventRemoveTimeout(nq->timer);
	json_object_put(nq->fw_status);
	free(nq->forwards);
	free(nq->uplink_dev);
	free(nq->uplink_ports);
	free(nq->name);
	free(nq);
}

static struct net_qube *nq_get(struct daemon *d, const char *name)
{
	struct net_state *s = state(d);
	struct net_qube *nq = nq_find(d, name);
	if (nq)
		return nq;
	nq = xcalloc(1, sizeof(*nq));
	nq->d = d;
	nq->name = xstrdup(name);
	nq->timer = -1;
	nq->uplink_watch = -1;
	nq->next = s->qubes;
	s->qubes = nq;
	return nq;
}

static void apply(struct daemon *d, struct vm *vm);

struct apply_job {
	struct daemon *d;
	char *name;
};

static void mark(struct daemon *d, const char *name);

static void reapply_due(int timer, void *opaque)
{
	struct net_qube *nq = opaque;
	virEventRemoveTimeout(timer);
	nq->timer = -1;
	struct vm *vm = daemon_find_vm(nq->d, nq->name);
	if (is_up(vm))
		apply(nq->d, vm);
}

/* Keeps what a net qube said about its clients' rules, for `bulkhead firewall QUBE list`: only
 * for the clients linked to it now. */
static void keep_fw_status(struct daemon *d, struct net_qube *netvm, struct json_object *fw)
{
	if (!json_object_is_type(fw, json_type_object))
		return;
	for (struct net_link *l = state(d)->links; l; l = l->next) {
		struct json_object *list;
		if (!streq(l->netvm, netvm->name) ||
		    !json_object_object_get_ex(fw, l->client, &list))
			continue;
		struct net_qube *c = nq_get(d, l->client);
		json_object_put(c->fw_status);
		c->fw_status = net_fw_status_copy(list);
	}
}

struct json_object *net_firewall_status(struct daemon *d, const struct qube *q)
{
	struct net_qube *nq = nq_find(d, q->name);
	return nq && nq->fw_status && link_find(state(d), q->name) ? json_object_get(nq->fw_status)
								   : NULL;
}

static void retry_later(struct net_qube *nq)
{
	if (nq->timer >= 0)
		virEventRemoveTimeout(nq->timer);
	nq->timer = virEventAddTimeout(REFUSED_RETRY_MS, reapply_due, nq, NULL);
}

/* Acts on what the qube said (net-result.h): a display hint, never trusted beyond "when to
 * come back". */
static void apply_result(struct daemon *d, struct net_qube *nq, int status, const char *out)
{
	struct net_result res;
	if (net_result_parse(out, &res) < 0) {
		log_warn("%s: %s exited %d without a result", nq->name, NET_APPLY_PROGRAM, status);
		return;
	}
	if (!res.ok) {
		log_warn("%s refused its network configuration: %s%s", nq->name,
			 LOG_ESC(res.error ? res.error : "(no reason given)"),
			 nq->refusals < REFUSED_RETRY_MAX ? " (trying again)" : "");
		if (nq->refusals++ < REFUSED_RETRY_MAX)
			retry_later(nq);
	} else {
		nq->refusals = 0;
		log_info("network configuration of %s applied", nq->name);
		if (res.firewall)
			keep_fw_status(d, nq, res.firewall);
	}
	if (res.next_apply > 0) {
		int64_t in = res.next_apply - (int64_t)time(NULL);
		in = in < 1 ? 1 : in > REAPPLY_MAX_S ? REAPPLY_MAX_S : in;
		if (nq->timer >= 0)
			virEventRemoveTimeout(nq->timer);
		nq->timer = virEventAddTimeout((int)(in * 1000), reapply_due, nq, NULL);
	}
	net_result_done(&res);
}

static void apply_done(int r, int status, const char *out, size_t out_len, void *userdata)
{
	struct apply_job *j = userdata;
	struct daemon *d = j->d;
	struct vm *vm = daemon_find_vm(d, j->name);
	struct net_qube *nq = vm ? nq_get(d, j->name) : NULL;

	if (nq) {
		nq->applying = false;
		if (r < 0) {
			/* A run that hangs or breaks off is tried again like a refusal. */
			log_warn("%s: %s did not complete: %s%s", j->name, NET_APPLY_PROGRAM,
				 strerror(-r),
				 nq->refusals < REFUSED_RETRY_MAX ? " (trying again)" : "");
			if (nq->refusals++ < REFUSED_RETRY_MAX && !nq->again)
				retry_later(nq);
		} else if (status == 127 && !out_len) {
			if (!nq->warned)
				log_warn("%s has no %s: its network is not configured (a template "
					 "with it: bulkhead template build debian)",
					 j->name, NET_APPLY_PROGRAM);
			nq->warned = true;
		} else
			apply_result(d, nq, status, out);
		if (nq->again && is_up(vm)) {
			nq->again = false;
			apply(d, vm);
		}
	}
	free(j->name);
	free(j);
}

static void apply(struct daemon *d, struct vm *vm)
{
	struct net_qube *nq = nq_get(d, vm->q->name);
	if (nq->applying) {
		nq->again = true;
		return;
	}
	struct json_object *cfg = config_for(d, vm);
	const char *text = json_object_to_json_string_ext(cfg, JSON_C_TO_STRING_PLAIN);
	static const char *const argv[] = {NET_APPLY_PROGRAM, NULL};
	struct apply_job *j = xcalloc(1, sizeof(*j));
	j->d = d;
	j->name = xstrdup(vm->q->name);
	int r = qube_exec(d, vm, "root", argv, text, strlen(text), d->net_apply_timeout_ms,
			  apply_done, j);
	json_object_put(cfg);
	if (r < 0) {
		log_warn("cannot configure the network of %s: %s", vm->q->name, strerror(-r));
		free(j->name);
		free(j);
		return;
	}
	nq->applying = true;
}

/* The qube named is told its configuration again (now, or after the run under way): something
 * changed, so refusals count afresh. */
static void mark(struct daemon *d, const char *name)
{
	struct vm *vm = daemon_find_vm(d, name);
	struct net_qube *nq = nq_find(d, name);
	if (nq)
		nq->refusals = 0;
	if (is_up(vm))
		apply(d, vm);
}

void net_firewall_changed(struct daemon *d, struct qube *q)
{
	const char *n = net_netvm_name(d, q);
	if (n && link_find(state(d), q->name))
		mark(d, n);
}

void net_forwards_changed(struct daemon *d, struct qube *q)
{
	struct net_qube *nq = nq_find(d, q->name);
	if (nq) {
		free(nq->forwards);
		nq->forwards = NULL;
	}
	const struct qube *c = q;
	for (unsigned hops = 0; hops <= NET_CHAIN_MAX; hops++) {
		const char *n = net_netvm_name(d, c);
		struct vm *netvm = n ? daemon_find_vm(d, n) : NULL;
		if (!netvm || !link_find(state(d), c->name))
			break;
		mark(d, n);
		c = netvm->q;
	}
	net_sync(d);
}

void net_list_fields(struct daemon *d, const struct vm *vm, struct json_object *o)
{
	const char *n = net_netvm_name(d, vm->q);
	json_object_object_add(o, "netvm_effective", n ? jstr(n) : NULL);
	if (n || vm->q->provides_network)
		add_addr(o, "ip", "ip6", vm->q);
	json_object_object_add(o, "provides_network",
			       json_object_new_boolean(vm->q->provides_network));
}

void net_free(struct daemon *d)
{
	struct net_state *s = d->net;
	if (!s)
		return;
	while (s->links) {
		struct net_link *l = s->links;
		s->links = l->next;
		link_free(l);
	}
	while (s->qubes) {
		struct net_qube *nq = s->qubes;
		s->qubes = nq->next;
		if (nq->uplink_watch >= 0)
			virEventRemoveHandle(nq->uplink_watch);
		uplink_stop(nq->uplink_proc);
		nq_free(nq);
	}
	free(s);
	d->net = NULL;
}
