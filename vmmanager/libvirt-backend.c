/* The libvirt side: the connection, domain creation from the model, and lifecycle events. */
#include <fcntl.h>
#include <pthread.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>

#include "backend.h"
#include "daemon.h"
#include "domain-xml.h"
#include "audio.h"
#include "gui.h"
#include "log.h"
#include "net.h"
#include "qube.h"
#include "root-revisions.h"
#include "util.h"

static void ignore_libvirt_error(void *opaque, virErrorPtr err)
{
	/* libvirt prints every error to stderr by default; we report errors once, ourselves. */
}

static const char *last_libvirt_error(void)
{
	virErrorPtr e = virGetLastError();
	return e && e->message ? e->message : "unknown libvirt error";
}

static struct vm *vm_from_domain(struct daemon *d, virDomainPtr dom)
{
	const char *dname = virDomainGetName(dom);
	size_t plen = strlen(d->domain_prefix);

	if (!dname || strncmp(dname, d->domain_prefix, plen) != 0)
		return NULL;
	return daemon_find_vm(d, dname + plen);
}

/* Destroys dom. A destroy that races a start (one a crashed bulkheadd left running in libvirt)
 * kills QEMU yet reports an error: what counts is whether the domain still runs. */
static int destroy_domain(virDomainPtr dom)
{
	if (virDomainDestroy(dom) == 0)
		return 0;
	int active = virDomainIsActive(dom);
	if (active == 0)
		return 0;
	if (active < 0) {
		virErrorPtr e = virGetLastError();
		if (e && e->code == VIR_ERR_NO_DOMAIN)
			return 0;
	}
	return -EIO;
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	struct daemon *d = opaque;
	struct vm *vm = vm_from_domain(d, dom);
	const char *dname = virDomainGetName(dom);
	size_t plen = strlen(d->domain_prefix);

	/* A start that a crashed bulkheadd asked for can complete after the next one reconciled
	 * (a disposable it then removed): a domain of ours without a qube does not run on. Names
	 * that are no qube's (the daemon's own probes) are not ours to judge. */
	if (!vm && event == VIR_DOMAIN_EVENT_STARTED && dname &&
	    strncmp(dname, d->domain_prefix, plen) == 0 &&
	    qube_name_check(dname + plen, NULL) == 0 && !daemon_is_quarantined(d, dname + plen)) {
		log_warn("destroying domain %s: it started, and no qube of that name exists",
			 dname);
		destroy_domain(dom);
		return 0;
	}
	if (!vm || !d->backend_listener)
		return 0;
	switch (event) {
	case VIR_DOMAIN_EVENT_STOPPED:
		d->backend_listener->domain_stopped(
		    d, vm,
		    detail == VIR_DOMAIN_EVENT_STOPPED_CRASHED	? "crashed"
		    : detail == VIR_DOMAIN_EVENT_STOPPED_FAILED ? "failed"
								: "stopped");
		break;
	case VIR_DOMAIN_EVENT_SUSPENDED:
		d->backend_listener->domain_suspended(d, vm);
		break;
	case VIR_DOMAIN_EVENT_RESUMED:
		d->backend_listener->domain_resumed(d, vm);
		break;
	default:
		break;
	}
	return 0;
}

void backend_set_listener(struct daemon *d, const struct backend_listener *l)
{
	d->backend_listener = l;
}

int backend_open(struct daemon *d)
{
	virSetErrorFunc(NULL, ignore_libvirt_error);
	d->conn = virConnectOpen(d->libvirt_uri);
	if (!d->conn) {
		log_error("cannot connect to libvirt at %s: %s (is libvirtd running?)",
			  d->libvirt_uri, last_libvirt_error());
		return -ECONNREFUSED;
	}
	d->lifecycle_cb =
	    virConnectDomainEventRegisterAny(d->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
					     VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), d, NULL);
	if (d->lifecycle_cb < 0) {
		log_error("cannot subscribe to libvirt events: %s", last_libvirt_error());
		return -EIO;
	}
	return 0;
}

void backend_close(struct daemon *d)
{
	if (!d->conn)
		return;
	if (d->lifecycle_cb >= 0)
		virConnectDomainEventDeregisterAny(d->conn, d->lifecycle_cb);
	virConnectClose(d->conn);
	d->conn = NULL;
}

static virDomainPtr lookup(struct daemon *d, const char *qube_name)
{
	_cleanup_free_ char *dname = daemon_domain_name(d, qube_name);
	return virDomainLookupByName(d->conn, dname);
}

static char *kernel_file(struct daemon *d, const struct qube *q, const char *file)
{
	return xasprintf("%s/kernels/%s/%s", d->state_dir, q->kernel ? q->kernel : "default", file);
}

static int domain_xml_for(struct daemon *d, struct vm *vm, char **ret_xml, char **ret_message)
{
	const struct qube *q = vm->q;
	_cleanup_free_ char *dname = daemon_domain_name(d, q->name);
	_cleanup_free_ char *kernel = kernel_file(d, q, "vmlinuz");
	_cleanup_free_ char *initrd = kernel_file(d, q, "initramfs.img");
	_cleanup_free_ char *modules = kernel_file(d, q, "modules.img");
	/* A template writes a copy of its root (template-revisions.h). */
	_cleanup_free_ char *root = daemon_qube_file(
	    d, q->name,
	    q->klass == QUBE_APPVM || q->klass == QUBE_DISPVM ? "root-overlay.qcow2"
	    : q->klass == QUBE_TEMPLATEVM		      ? ROOT_NEXT
							      : "root.qcow2");
	_cleanup_free_ char *priv = daemon_qube_file(
	    d, q->name, q->klass == QUBE_DISPVM ? "private-overlay.qcow2" : "private.qcow2");
	_cleanup_free_ char *vol = daemon_qube_file(d, q->name, "volatile.qcow2");
	_cleanup_free_ char *console = daemon_qube_file(d, q->name, "console.log");
	_cleanup_free_ char *chan = daemon_channel_path(d, q->name);
	_cleanup_free_ char *gui = gui_qube_enabled(q) ? gui_channel_path(d, q->name) : NULL;
	_cleanup_free_ char *audio = audio_qube_enabled(q) ? audio_channel_path(d, q->name) : NULL;
	/* The updates proxy's ends, started by the guest init (images/guest/init): the forwarder
	 * in templates, the caching proxy in qubes that provide network. */
	const char *services =
	    q->klass == QUBE_TEMPLATEVM
		? (q->provides_network ? " bulkhead.services=updates-proxy-setup,updates-proxy"
				       : " bulkhead.services=updates-proxy-setup")
		: (q->provides_network ? " bulkhead.services=updates-proxy" : "");
	_cleanup_free_ char *cmdline =
	    xasprintf("root=/dev/vda rw console=ttyS0 quiet panic=-1 bulkhead.name=%s%s%s%s%s",
		      q->name, d->vsock ? " bulkhead.channel=vsock" : "", services,
		      q->kernelopts ? " " : "", q->kernelopts ? q->kernelopts : "");
	_cleanup_free_ char *xml = NULL;

	struct domain_params p = {
	    .q = q,
	    .domain_name = dname,
	    .kvm = d->accel.kvm,
	    .cpu = d->accel.cpu,
	    .kernel = kernel,
	    .initrd = initrd,
	    .cmdline = cmdline,
	    .root = root,
	    .private_ = priv,
	    .volatile_ = vol,
	    .modules = modules,
	    .channel_path = chan,
	    .gui_channel_path = gui,
	    .audio_channel_path = audio,
	    .vsock = d->vsock,
	    .console_log = console,
	    .metadata_state_dir = d->state_dir,
	};
	p.hotplug_ports = net_hotplug_ports(q);
	int r = domain_xml_generate(&p, &xml);
	if (r < 0) {
		*ret_message = xasprintf("cannot generate the domain XML: %s", strerror(-r));
		return r;
	}
	/* A stale socket from a crash would make QEMU's bind fail. */
	unlink(chan);
	if (gui)
		unlink(gui);
	if (audio)
		unlink(audio);
	*ret_xml = TAKE_PTR(xml);
	return 0;
}

/* Creating a domain takes libvirt a while (QEMU's start, and under TCG seconds): it runs in a
 * thread of its own, on the same (thread-safe) connection, so the event loop keeps answering
 * the other qubes and the CLI; the end is reported back through a pipe the loop watches. */
struct create_job {
	virConnectPtr conn;
	char *xml;
	pthread_t thread;
	int pipe[2];
	int result;
	char *message;
	backend_create_done_fn done;
	void *userdata;
};

static void *create_thread(void *opaque)
{
	struct create_job *j = opaque;
	virDomainPtr dom = virDomainCreateXML(j->conn, j->xml, VIR_DOMAIN_NONE);
	if (!dom) {
		/* libvirt's last error is per thread: this one is ours. */
		j->message =
		    xasprintf("libvirt could not start the domain: %s", last_libvirt_error());
		j->result = -EIO;
	} else {
		virDomainFree(dom);
	}
	if (write(j->pipe[1], "x", 1) < 0) {
		/* The loop reads it; a pipe of our own cannot be full. */
	}
	return NULL;
}

static void create_done_io(int watch, int fd, int events, void *opaque)
{
	struct create_job *j = opaque;
	virEventRemoveHandle(watch);
	pthread_join(j->thread, NULL);
	close(j->pipe[0]);
	close(j->pipe[1]);
	j->done(j->result, j->message, j->userdata);
	free(j->message);
	free(j->xml);
	free(j);
}

int backend_create_domain_async(struct daemon *d, struct vm *vm, backend_create_done_fn done,
				void *userdata, char **ret_message)
{
	char *xml = NULL;
	int r = domain_xml_for(d, vm, &xml, ret_message);
	if (r < 0)
		return r;
	struct create_job *j = xcalloc(1, sizeof(*j));
	j->conn = d->conn;
	j->xml = xml;
	j->done = done;
	j->userdata = userdata;
	if (pipe2(j->pipe, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	if (virEventAddHandle(j->pipe[0], VIR_EVENT_HANDLE_READABLE, create_done_io, j, NULL) < 0) {
		r = -EIO;
		goto fail_pipe;
	}
	r = -pthread_create(&j->thread, NULL, create_thread, j);
	if (r < 0)
		goto fail_pipe; /* the watch goes with the pipe's fd on the next loop */
	return 0;
fail_pipe:
	close(j->pipe[0]);
	close(j->pipe[1]);
fail:
	*ret_message = xasprintf("cannot start the domain: %s", strerror(-r));
	free(j->xml);
	free(j);
	return r;
}

int backend_destroy_domain(struct daemon *d, const char *qube_name)
{
	virDomainPtr dom = lookup(d, qube_name);
	if (!dom)
		return -ENOENT;
	int r = destroy_domain(dom);
	virDomainFree(dom);
	return r;
}

int backend_domain_state(struct daemon *d, const char *qube_name, enum vm_state *ret)
{
	virDomainPtr dom = lookup(d, qube_name);
	int state, reason;

	if (!dom)
		return -ENOENT;
	int r = virDomainGetState(dom, &state, &reason, 0);
	virDomainFree(dom);
	if (r < 0)
		return -EIO;
	switch (state) {
	case VIR_DOMAIN_RUNNING:
	case VIR_DOMAIN_BLOCKED:
		*ret = VM_RUNNING;
		return 0;
	case VIR_DOMAIN_PAUSED:
	case VIR_DOMAIN_PMSUSPENDED:
		*ret = VM_PAUSED;
		return 0;
	case VIR_DOMAIN_SHUTDOWN:
		*ret = VM_HALTING;
		return 0;
	default:
		*ret = VM_HALTED;
		return 0;
	}
}

int backend_suspend(struct daemon *d, const char *qube_name)
{
	virDomainPtr dom = lookup(d, qube_name);
	if (!dom)
		return -ENOENT;
	int r = virDomainSuspend(dom) < 0 ? -EIO : 0;
	virDomainFree(dom);
	return r;
}

int backend_resume(struct daemon *d, const char *qube_name)
{
	virDomainPtr dom = lookup(d, qube_name);
	if (!dom)
		return -ENOENT;
	int r = virDomainResume(dom) < 0 ? -EIO : 0;
	virDomainFree(dom);
	return r;
}

int backend_vsock_cid(struct daemon *d, const char *qube_name, unsigned *ret)
{
	virDomainPtr dom = lookup(d, qube_name);
	if (!dom)
		return -ENOENT;
	_cleanup_free_ char *xml = virDomainGetXMLDesc(dom, 0);
	virDomainFree(dom);
	if (!xml)
		return -EIO;
	/* Live XML, written by libvirt: <cid auto='yes' address='N'/> inside <vsock>. */
	const char *v = strstr(xml, "<vsock");
	const char *cid = v ? strstr(v, "<cid") : NULL;
	const char *addr = cid ? strstr(cid, "address='") : NULL;
	if (!addr)
		return -ENODATA;
	char *end;
	unsigned long n = strtoul(addr + 9, &end, 10);
	if (*end != '\'' || n < 3 || n > UINT32_MAX)
		return -EBADMSG;
	*ret = (unsigned)n;
	return 0;
}

int backend_memory_rss_kib(struct daemon *d, const char *qube_name, unsigned long long *ret)
{
	virDomainPtr dom = lookup(d, qube_name);
	virDomainMemoryStatStruct stats[VIR_DOMAIN_MEMORY_STAT_NR];

	if (!dom)
		return -ENOENT;
	int n = virDomainMemoryStats(dom, stats, VIR_DOMAIN_MEMORY_STAT_NR, 0);
	virDomainFree(dom);
	if (n < 0)
		return -EIO;
	for (int i = 0; i < n; i++)
		if (stats[i].tag == VIR_DOMAIN_MEMORY_STAT_RSS) {
			*ret = stats[i].val;
			return 0;
		}
	return -ENODATA;
}

int backend_memory_stats(struct daemon *d, const char *qube_name, struct backend_mem_stats *ret)
{
	virDomainPtr dom = lookup(d, qube_name);
	virDomainMemoryStatStruct stats[VIR_DOMAIN_MEMORY_STAT_NR];
	virDomainInfo info;
	unsigned long long usable = 0, unused = 0, caches = 0;
	bool has_usable = false, has_unused = false;
	struct backend_mem_stats m = {0};

	if (!dom)
		return -ENOENT;
	int n = virDomainMemoryStats(dom, stats, VIR_DOMAIN_MEMORY_STAT_NR, 0);
	int r = virDomainGetInfo(dom, &info);
	virDomainFree(dom);
	if (n < 0 || r < 0)
		return -EIO;
	/* libvirt's record of the balloon: the target last set, then what the balloon reached. */
	m.cur_kib = info.memory;
	m.max_kib = info.maxMem;
	for (int i = 0; i < n; i++)
		switch (stats[i].tag) {
		case VIR_DOMAIN_MEMORY_STAT_RSS:
			m.rss_kib = stats[i].val;
			m.has_rss = true;
			break;
		case VIR_DOMAIN_MEMORY_STAT_USABLE: /* its MemAvailable */
			usable = stats[i].val;
			has_usable = true;
			break;
		case VIR_DOMAIN_MEMORY_STAT_UNUSED: /* its MemFree */
			unused = stats[i].val;
			has_unused = true;
			break;
		case VIR_DOMAIN_MEMORY_STAT_DISK_CACHES:
			caches = stats[i].val;
			break;
		}
	/* In use and not reclaimable, as the guest tells it, in the balloon's terms: what the
	 * balloon could not take without pressure. Not MemTotal less MemAvailable: MemTotal
	 * lacks what the kernel keeps for itself (struct pages for all of maxmem among it, 64 MiB
	 * for 4 GiB), so a guest out of memory would look as if it used less than its balloon and
	 * never grow. Kernels before 4.16 send no MemAvailable: free memory and caches instead. */
	if (has_usable || has_unused) {
		unsigned long long spare = has_usable ? usable : unused + caches;
		m.used_kib = m.cur_kib > spare ? m.cur_kib - spare : 0;
		m.has_used = true;
	}
	*ret = m;
	return 0;
}

int backend_set_memory(struct daemon *d, const char *qube_name, unsigned long long kib)
{
	virDomainPtr dom = lookup(d, qube_name);

	if (!dom)
		return -ENOENT;
	int r = virDomainSetMemoryFlags(dom, kib, VIR_DOMAIN_AFFECT_LIVE);
	virDomainFree(dom);
	return r < 0 ? -EIO : 0;
}

int backend_adopt_domains(struct daemon *d)
{
	virDomainPtr *doms = NULL;
	size_t plen = strlen(d->domain_prefix);
	int n = virConnectListAllDomains(d->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);

	if (n < 0) {
		log_error("cannot list libvirt domains: %s", last_libvirt_error());
		return -EIO;
	}
	for (int i = 0; i < n; i++) {
		const char *dname = virDomainGetName(doms[i]);
		/* A qube name never starts with '_': such domains are the accelerator probe's,
		 * removed by accel.c itself. */
		if (dname && dname[plen] == '_')
			;
		else if (dname && strncmp(dname, d->domain_prefix, plen) == 0) {
			struct vm *vm = daemon_find_vm(d, dname + plen);
			if (!vm && daemon_is_quarantined(d, dname + plen)) {
				log_warn("leaving domain %s running: its qube's directory is "
					 "quarantined",
					 dname);
			} else if (!vm) {
				log_warn("destroying domain %s: no such qube in the store", dname);
				virDomainDestroy(doms[i]);
			} else if (vm->q->call_disposable && destroy_domain(doms[i]) == 0) {
				log_info("destroyed the disposable %s: its call ended with the "
					 "previous bulkheadd",
					 vm->q->name);
			} else {
				enum vm_state st = VM_RUNNING;
				backend_domain_state(d, vm->q->name, &st);
				log_info("adopting running qube %s", vm->q->name);
				/* The listener adopts it, and disposes of a disposable that would
				 * not die (tried again from the loop). */
				if (d->backend_listener)
					d->backend_listener->domain_found(d, vm, st == VM_PAUSED);
				if (vm->q->call_disposable)
					log_warn(
					    "cannot destroy the disposable %s now (%s); trying "
					    "again",
					    vm->q->name, last_libvirt_error());
			}
		}
		virDomainFree(doms[i]);
	}
	free(doms);
	return 0;
}

/* ---- network links through QEMU's monitor ---- */

/* Sends one QMP command (JSON text) with fd, if >= 0, attached. Returns 0 with *ret_return
 * (the reply's "return", may be NULL to ignore), -ENOENT for a "DeviceNotFound" error, -EIO
 * otherwise, with *ret_message when given. */
static int qmp(virDomainPtr dom, const char *cmd, int fd, struct json_object **ret_return,
	       char **ret_message)
{
	char *reply = NULL;
	int files[1] = {fd};
	int r = virDomainQemuMonitorCommandWithFiles(dom, cmd, fd >= 0 ? 1 : 0,
						     fd >= 0 ? files : NULL, NULL, NULL, &reply, 0);
	if (r < 0) {
		if (ret_message)
			*ret_message = xasprintf("%s", last_libvirt_error());
		return -EIO;
	}
	struct json_object *o = json_tokener_parse(reply);
	free(reply);
	struct json_object *ret = NULL, *err = NULL;
	if (o && json_object_object_get_ex(o, "return", &ret)) {
		if (ret_return)
			*ret_return = json_object_get(ret);
		json_object_put(o);
		return 0;
	}
	r = -EIO;
	if (o && json_object_object_get_ex(o, "error", &err)) {
		struct json_object *cls = NULL, *desc = NULL;
		json_object_object_get_ex(err, "class", &cls);
		json_object_object_get_ex(err, "desc", &desc);
		if (streq_ptr(json_object_get_string(cls), "DeviceNotFound"))
			r = -ENOENT;
		if (ret_message)
			*ret_message = xasprintf("%s", json_object_get_string(desc) ?: "error");
	} else if (ret_message) {
		*ret_message = xstrdup("QEMU's reply is not QMP");
	}
	json_object_put(o);
	return r;
}

static char *qmp_text(const char *execute, struct json_object *args)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "execute", json_object_new_string(execute));
	if (args)
		json_object_object_add(o, "arguments", args);
	char *s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

/* Device ids are "bhnicP-N" (P the port, N a serial), their backends "bhndP-N": the ports in
 * use can be read back from QEMU, also after a restart of bulkheadd. */
#define NIC_ID_PREFIX	 "bhnic"
#define NETDEV_ID_PREFIX "bhnd"
#define NIC_FD_NAME	 "bhnetfd"

static int ports_in_use(virDomainPtr dom, uint64_t *ret_mask, char **ret_message)
{
	struct json_object *list = NULL;
	struct json_object *args = json_object_new_object();
	json_object_object_add(args, "path", json_object_new_string("/machine/peripheral"));
	_cleanup_free_ char *cmd = qmp_text("qom-list", args);
	int r = qmp(dom, cmd, -1, &list, ret_message);
	if (r < 0)
		return r;
	uint64_t mask = 0;
	size_t n = json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *name = NULL;
		json_object_object_get_ex(json_object_array_get_idx(list, i), "name", &name);
		const char *s = json_object_get_string(name);
		if (!s || strncmp(s, NIC_ID_PREFIX, strlen(NIC_ID_PREFIX)) != 0)
			continue;
		unsigned long port = strtoul(s + strlen(NIC_ID_PREFIX), NULL, 10);
		if (port < 64)
			mask |= 1ull << port;
	}
	json_object_put(list);
	*ret_mask = mask;
	return 0;
}

/* Plugs the NIC into port of dom; on failure what was added is taken back. */
static int nic_plug_port(virDomainPtr dom, unsigned port, int fd, bool stream, const char *mac,
			 char **ret_dev, char **ret_msg)
{
	static uint64_t serial;
	int r;

	serial++;
	_cleanup_free_ char *fdname = xasprintf(NIC_FD_NAME "%" PRIu64, serial);
	_cleanup_free_ char *netdev = xasprintf(NETDEV_ID_PREFIX "%u-%" PRIu64, port, serial);
	_cleanup_free_ char *dev = xasprintf(NIC_ID_PREFIX "%u-%" PRIu64, port, serial);
	_cleanup_free_ char *bus = xasprintf(DOMAIN_HOTPLUG_PORT_ALIAS "%u", port);

	struct json_object *a = json_object_new_object();
	json_object_object_add(a, "fdname", json_object_new_string(fdname));
	_cleanup_free_ char *getfd = qmp_text("getfd", a);
	if ((r = qmp(dom, getfd, fd, NULL, ret_msg)) < 0)
		return r;

	a = json_object_new_object();
	if (stream) {
		/* QEMU 7.2's "stream" netdev refuses an fd; "socket" takes a connected one. */
		json_object_object_add(a, "type", json_object_new_string("socket"));
		json_object_object_add(a, "fd", json_object_new_string(fdname));
	} else {
		struct json_object *local = json_object_new_object();
		json_object_object_add(local, "type", json_object_new_string("fd"));
		json_object_object_add(local, "str", json_object_new_string(fdname));
		json_object_object_add(a, "type", json_object_new_string("dgram"));
		json_object_object_add(a, "local", local);
	}
	json_object_object_add(a, "id", json_object_new_string(netdev));
	_cleanup_free_ char *nd = qmp_text("netdev_add", a);
	if ((r = qmp(dom, nd, -1, NULL, ret_msg)) < 0) {
		a = json_object_new_object();
		json_object_object_add(a, "fdname", json_object_new_string(fdname));
		_cleanup_free_ char *closefd = qmp_text("closefd", a);
		qmp(dom, closefd, -1, NULL, NULL);
		return r;
	}

	a = json_object_new_object();
	json_object_object_add(a, "driver", json_object_new_string("virtio-net-pci"));
	json_object_object_add(a, "id", json_object_new_string(dev));
	json_object_object_add(a, "netdev", json_object_new_string(netdev));
	json_object_object_add(a, "mac", json_object_new_string(mac));
	json_object_object_add(a, "bus", json_object_new_string(bus));
	_cleanup_free_ char *da = qmp_text("device_add", a);
	if ((r = qmp(dom, da, -1, NULL, ret_msg)) < 0) {
		a = json_object_new_object();
		json_object_object_add(a, "id", json_object_new_string(netdev));
		_cleanup_free_ char *del = qmp_text("netdev_del", a);
		qmp(dom, del, -1, NULL, NULL);
		return r;
	}
	*ret_dev = TAKE_PTR(dev);
	return 0;
}

int backend_nic_plug(struct daemon *d, const char *qube_name, unsigned ports, int fd, bool stream,
		     const char *mac, char **ret_dev, char **ret_message)
{
	virDomainPtr dom = lookup(d, qube_name);
	_cleanup_free_ char *msg = NULL;
	uint64_t used = 0;
	unsigned port = 0;
	int r;

	if (!dom) {
		*ret_message = xasprintf("'%s' has no domain", qube_name);
		return -ENOENT;
	}
	r = ports_in_use(dom, &used, &msg);
	if (r >= 0) {
		/* Ports are taken in turn, not lowest first: a guest that is still finishing the
		 * removal of a port's previous NIC (Linux's pciehp waits seconds) misses a new
		 * one plugged into that same port at once. */
		static unsigned turn;
		unsigned n = ports < 64 ? ports : 64, k;
		for (k = 0; k < n; k++) {
			port = (turn + k) % n;
			if (!(used & (1ull << port)))
				break;
		}
		if (k == n) {
			msg = xasprintf("all %u network ports are in use", ports);
			r = -ENOSPC;
		} else {
			turn = port + 1;
		}
	}
	if (r >= 0)
		r = nic_plug_port(dom, port, fd, stream, mac, ret_dev, &msg);
	virDomainFree(dom);
	if (r < 0)
		*ret_message = xasprintf("cannot plug a network link into '%s': %s", qube_name,
					 msg ? msg : strerror(-r));
	return r;
}

int backend_nic_unplug(struct daemon *d, const char *qube_name, const char *dev)
{
	virDomainPtr dom = lookup(d, qube_name);
	if (!dom)
		return -ENOENT;
	if (strncmp(dev, NIC_ID_PREFIX, strlen(NIC_ID_PREFIX)) != 0) {
		virDomainFree(dom);
		return -EINVAL;
	}
	_cleanup_free_ char *netdev = xasprintf(NETDEV_ID_PREFIX "%s", dev + strlen(NIC_ID_PREFIX));
	struct json_object *a = json_object_new_object();
	json_object_object_add(a, "id", json_object_new_string(dev));
	_cleanup_free_ char *dd = qmp_text("device_del", a);
	int r = qmp(dom, dd, -1, NULL, NULL);
	/* The guest may take its time over device_del, or never answer: the backend goes now,
	 * so the link carries nothing more either way. */
	a = json_object_new_object();
	json_object_object_add(a, "id", json_object_new_string(netdev));
	_cleanup_free_ char *nd = qmp_text("netdev_del", a);
	int r2 = qmp(dom, nd, -1, NULL, NULL);
	virDomainFree(dom);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r2 < 0 && r2 != -ENOENT)
		return r2;
	return 0;
}

/* Resuming takes QEMU a monitor round trip and libvirt a job (tens of ms under TCG): a thread
 * does it, so that the loop meanwhile hands the command that waits for the qube to its channel
 * process (the bytes wait in the channel until the guest runs). Reported back as a create is. */
struct resume_job {
	virDomainPtr dom;
	pthread_t thread;
	int pipe[2];
	int result;
	backend_resume_done_fn done;
	void *userdata;
};

static void *resume_thread(void *opaque)
{
	struct resume_job *j = opaque;
	j->result = virDomainResume(j->dom) < 0 ? -EIO : 0;
	if (write(j->pipe[1], "x", 1) < 0) {
		/* The loop reads it; a pipe of our own cannot be full. */
	}
	return NULL;
}

static void resume_done_io(int watch, int fd, int events, void *opaque)
{
	struct resume_job *j = opaque;
	virEventRemoveHandle(watch);
	pthread_join(j->thread, NULL);
	close(j->pipe[0]);
	close(j->pipe[1]);
	virDomainFree(j->dom);
	j->done(j->result, j->userdata);
	free(j);
}

int backend_resume_async(struct daemon *d, const char *qube_name, backend_resume_done_fn done,
			 void *userdata)
{
	struct resume_job *j = xcalloc(1, sizeof(*j));
	int r;

	j->dom = lookup(d, qube_name);
	j->done = done;
	j->userdata = userdata;
	if (!j->dom) {
		free(j);
		return -ENOENT;
	}
	if (pipe2(j->pipe, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	if (virEventAddHandle(j->pipe[0], VIR_EVENT_HANDLE_READABLE, resume_done_io, j, NULL) < 0) {
		r = -EIO;
		goto fail_pipe;
	}
	r = -pthread_create(&j->thread, NULL, resume_thread, j);
	if (r < 0)
		goto fail_pipe; /* the watch goes with the pipe's fd on the next loop */
	return 0;
fail_pipe:
	close(j->pipe[0]);
	close(j->pipe[1]);
fail:
	virDomainFree(j->dom);
	free(j);
	return r;
}
