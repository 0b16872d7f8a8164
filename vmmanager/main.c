/* bulkheadd: the VM manager. Owns the qube store and talks to libvirt for everything else. */
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include "api-server.h"
#include "api-waiters.h"
#include "api.h"
#include "autostart.h"
#include "backend.h"
#include "balancer.h"
#include "daemon.h"
#include "netns.h"
#include "audio.h"
#include "gui.h"
#include "host-memory.h"
#include "lifecycle.h"
#include "log.h"
#include "net.h"
#include "rpc-policy.h"
#include "rpc.h"
#include "store.h"
#include "subprocess.h"
#include "util.h"

#define DEFAULT_WAYLAND_PROXY BULKHEAD_LIBEXECDIR "/bulkhead-wayland-proxy"
#define DEFAULT_AUDIO_HOST    BULKHEAD_LIBEXECDIR "/bulkhead-audio-host"
#define DEFAULT_QCHAN	      BULKHEAD_LIBEXECDIR "/bulkhead-qchan"
#define DEFAULT_ICON_CONVERT  BULKHEAD_LIBEXECDIR "/bulkhead-icon-convert"

static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
	int saved = errno;
	if (write(signal_pipe[1], "x", 1) < 0) {
		/* The pipe is full: a quit is already pending. */
	}
	errno = saved;
}

static void signal_io(int watch, int fd, int events, void *opaque)
{
	struct daemon *d = opaque;
	char buf[16];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	d->quit = true;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: bulkheadd [OPTION]...\n"
		"The Bulkhead VM manager: keeps the qube store and starts qubes through "
		"libvirt.\n\n"
		"  --state-dir DIR       the store (default %s, or $%s)\n"
		"  --socket PATH         the API socket (default %s, or $%s)\n"
		"  --libvirt-uri URI     libvirt connection (default qemu:///system)\n"
		"  --domain-prefix P     prefix of libvirt domain names (default bulkhead-)\n"
		"  --images-dir DIR      where fetch-kernel and build-template are\n"
		"  --agent PATH          the bulkhead-agent binary put into templates\n"
		"  --channel KIND        the qube channel: virtio-serial (default) or vsock\n"
		"                        (or $BULKHEAD_CHANNEL)\n"
		"  --policy-dir DIR      the RPC policy (default /etc/bulkhead/policy.d, or\n"
		"                        $BULKHEAD_POLICY_DIR)\n"
		"  --rpc-timeout SEC     how long one call between qubes may take (default 300,\n"
		"                        or $BULKHEAD_RPC_TIMEOUT)\n"
		"  --gui-control PATH    the compositor's control socket; qubes' windows are\n"
		"                        shown there (default: none, or $BULKHEAD_GUI_CONTROL)\n"
		"  --wayland-proxy PATH  bulkhead-wayland-proxy, run per qube and put into\n"
		"                        templates (default %s)\n"
		"  --audio-host PATH     bulkhead-audio-host, run per qube with sound (default\n"
		"                        %s, or $BULKHEAD_AUDIO_HOST)\n"
		"  --accel MODE          auto (default: probe KVM, else TCG), kvm or tcg (or\n"
		"                        $BULKHEAD_ACCEL)\n"
		"  --check-accel         probe the accelerator --accel selects, print what works\n"
		"                        and exit (0: a choice was made)\n"
		"  --probe-timeout SEC   how long a probe guest may take to reach init (default\n"
		"                        15 under KVM, 120 under TCG)\n"
		"  --qchan PATH          bulkhead-qchan, one per running qube (default %s, or\n"
		"                        $BULKHEAD_QCHAN)\n"
		"  --memory-balance B    on (default) or off: move memory between running qubes\n"
		"                        within memory and maxmem (or $BULKHEAD_MEMORY_BALANCE)\n"
		"  --memory-reserve MIB  host memory no qube may take (default 1024, or\n"
		"                        $BULKHEAD_MEMORY_RESERVE)\n"
		"  --uplink-netns NAME   run sys-net's uplink (passt) in network namespace NAME\n"
		"                        (/run/netns/NAME) instead of the host's (or\n"
		"                        $BULKHEAD_UPLINK_NETNS)\n"
		"  -v, --verbose         log debug messages\n"
		"  -h, --help            show this help\n"
		"  --version             show the version\n",
		BULKHEAD_DEFAULT_STATE_DIR, BULKHEAD_ENV_STATE_DIR, BULKHEAD_DEFAULT_SOCKET,
		BULKHEAD_ENV_SOCKET, DEFAULT_WAYLAND_PROXY, DEFAULT_AUDIO_HOST, DEFAULT_QCHAN);
}

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);
	return v && *v ? v : def;
}

static int mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Qubes stored before qids were kept (or two that claim the same one, which only a hand edit
 * makes) get a free one, kept from then on. */
static void assign_missing_qids(struct daemon *d)
{
	for (size_t i = 0; i < d->n_vms; i++) {
		struct qube *q = d->vms[i]->q;
		bool dup = false;
		for (size_t j = 0; j < i && !dup; j++)
			dup = q->qid && d->vms[j]->q->qid == q->qid;
		if (q->qid && !dup)
			continue;
		q->qid = 0;
		q->qid = daemon_free_qid(d);
		int r = store_save(d->store, q);
		if (r < 0)
			log_warn("cannot store the qid %u of %s: %s (it may get another one next "
				 "time)",
				 q->qid, q->name, strerror(-r));
	}
}

/* host.json: none yet is the defaults; a damaged one is said and not used (nor overwritten
 * until a setting is changed). */
static void load_host_prefs(struct daemon *d)
{
	struct json_object *o = NULL;
	const char *reason = NULL;
	int r = store_load_host(d->store, &o);
	if (r == -ENOENT)
		return;
	if (r >= 0)
		r = host_prefs_from_json(o, &d->host_prefs, &reason);
	json_object_put(o);
	if (r < 0)
		log_error("%s/host.json cannot be used (%s); the host-wide settings have their "
			  "defaults until one is set",
			  d->state_dir, reason ? reason : strerror(-r));
}

static int load_store(struct daemon *d)
{
	struct qube **qs = NULL;
	size_t n = 0;
	int r = store_open(d->state_dir, &d->store);
	if (r < 0) {
		log_error("cannot open the store in %s: %s", d->state_dir, strerror(-r));
		return r;
	}
	struct store_problem *probs = NULL;
	size_t n_probs = 0;
	r = store_load_all(d->store, &qs, &n, &probs, &n_probs);
	if (r < 0) {
		log_error("cannot read the store in %s: %s", d->state_dir, strerror(-r));
		return r;
	}
	/* What does not load is kept for the user to repair: never deleted, and a domain of it
	 * that runs keeps running (daemon_reconcile). Its name stays taken. */
	d->quarantined = xcalloc(n_probs + 1, sizeof(char *));
	for (size_t i = 0; i < n_probs; i++) {
		log_error("qube directory %s/qubes/%s cannot be read (%s): quarantined: it is not "
			  "loaded, nothing in it is deleted, and its domain, if it runs, is left "
			  "running; repair its qube.json or move the directory away, then restart "
			  "bulkheadd",
			  d->state_dir, LOG_ESC(probs[i].entry), probs[i].reason);
		d->quarantined[d->n_quarantined++] = TAKE_PTR(probs[i].entry);
	}
	store_problems_free(probs, n_probs);
	for (size_t i = 0; i < n; i++)
		daemon_add_vm(d, qs[i]);
	free(qs);
	assign_missing_qids(d);
	load_host_prefs(d);
	log_info("%zu qube(s) in %s", n, d->state_dir);
	return 0;
}

static void remove_build_leftovers(struct daemon *d)
{
	_cleanup_free_ char *dir = xasprintf("%s/build", d->state_dir);
	const char *argv[] = {"rm", "-rf", "--one-file-system", dir, NULL};
	spawn_wait(argv, NULL);
}

static void daemon_free_config(struct daemon *d);
static void daemon_teardown(struct daemon *d);

int main(int argc, char **argv)
{
	enum {
		OPT_STATE = 256,
		OPT_SOCKET,
		OPT_URI,
		OPT_PREFIX,
		OPT_IMAGES,
		OPT_AGENT,
		OPT_CHANNEL,
		OPT_POLICY,
		OPT_RPC_TIMEOUT,
		OPT_GUI_CONTROL,
		OPT_WAYLAND_PROXY,
		OPT_AUDIO_HOST,
		OPT_ACCEL,
		OPT_QCHAN,
		OPT_CHECK_ACCEL,
		OPT_PROBE_TIMEOUT,
		OPT_UPLINK_NETNS,
		OPT_MEMORY_BALANCE,
		OPT_MEMORY_RESERVE,
		OPT_VERSION
	};
	static const struct option opts[] = {
	    {"state-dir", required_argument, NULL, OPT_STATE},
	    {"socket", required_argument, NULL, OPT_SOCKET},
	    {"libvirt-uri", required_argument, NULL, OPT_URI},
	    {"domain-prefix", required_argument, NULL, OPT_PREFIX},
	    {"images-dir", required_argument, NULL, OPT_IMAGES},
	    {"agent", required_argument, NULL, OPT_AGENT},
	    {"channel", required_argument, NULL, OPT_CHANNEL},
	    {"policy-dir", required_argument, NULL, OPT_POLICY},
	    {"rpc-timeout", required_argument, NULL, OPT_RPC_TIMEOUT},
	    {"gui-control", required_argument, NULL, OPT_GUI_CONTROL},
	    {"wayland-proxy", required_argument, NULL, OPT_WAYLAND_PROXY},
	    {"audio-host", required_argument, NULL, OPT_AUDIO_HOST},
	    {"accel", required_argument, NULL, OPT_ACCEL},
	    {"qchan", required_argument, NULL, OPT_QCHAN},
	    {"check-accel", no_argument, NULL, OPT_CHECK_ACCEL},
	    {"probe-timeout", required_argument, NULL, OPT_PROBE_TIMEOUT},
	    {"uplink-netns", required_argument, NULL, OPT_UPLINK_NETNS},
	    {"memory-balance", required_argument, NULL, OPT_MEMORY_BALANCE},
	    {"memory-reserve", required_argument, NULL, OPT_MEMORY_RESERVE},
	    {"verbose", no_argument, NULL, 'v'},
	    {"foreground", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, OPT_VERSION},
	    {0},
	};
	struct daemon d = {.listen_fd = -1, .listen_watch = -1, .lifecycle_cb = -1};
	const char *state = env_or(BULKHEAD_ENV_STATE_DIR, BULKHEAD_DEFAULT_STATE_DIR);
	const char *sock = env_or(BULKHEAD_ENV_SOCKET, BULKHEAD_DEFAULT_SOCKET);
	const char *uri = env_or("BULKHEAD_LIBVIRT_URI", "qemu:///system");
	const char *prefix = env_or("BULKHEAD_DOMAIN_PREFIX", "bulkhead-");
	const char *images = env_or("BULKHEAD_IMAGES_DIR", BULKHEAD_LIBEXECDIR);
	const char *agent = env_or("BULKHEAD_AGENT", BULKHEAD_BINDIR "/bulkhead-agent");
	const char *channel = env_or("BULKHEAD_CHANNEL", "virtio-serial");
	const char *policy = env_or("BULKHEAD_POLICY_DIR", "/etc/bulkhead/policy.d");
	const char *rpc_timeout = env_or("BULKHEAD_RPC_TIMEOUT", "300");
	const char *gui_control = env_or("BULKHEAD_GUI_CONTROL", NULL);
	const char *wayland_proxy = env_or("BULKHEAD_WAYLAND_PROXY", DEFAULT_WAYLAND_PROXY);
	const char *qchan = env_or("BULKHEAD_QCHAN", DEFAULT_QCHAN);
	const char *audio_host = env_or("BULKHEAD_AUDIO_HOST", DEFAULT_AUDIO_HOST);
	/* Only read by `bulkhead apps --sync`: a missing one fails that, not the daemon. */
	const char *icon_convert = env_or("BULKHEAD_ICON_CONVERT", DEFAULT_ICON_CONVERT);
	const char *accel = env_or("BULKHEAD_ACCEL", "auto");
	const char *probe_timeout = NULL;
	const char *uplink_netns = env_or("BULKHEAD_UPLINK_NETNS", NULL);
	const char *memory_balance = env_or("BULKHEAD_MEMORY_BALANCE", "on");
	const char *memory_reserve = env_or("BULKHEAD_MEMORY_RESERVE", NULL);
	bool check_accel = false;
	int c, r;

	log_set_ident("bulkheadd");
	while ((c = getopt_long(argc, argv, "vfh", opts, NULL)) != -1) {
		switch (c) {
		case OPT_STATE:
			state = optarg;
			break;
		case OPT_SOCKET:
			sock = optarg;
			break;
		case OPT_URI:
			uri = optarg;
			break;
		case OPT_PREFIX:
			prefix = optarg;
			break;
		case OPT_IMAGES:
			images = optarg;
			break;
		case OPT_AGENT:
			agent = optarg;
			break;
		case OPT_CHANNEL:
			channel = optarg;
			break;
		case OPT_POLICY:
			policy = optarg;
			break;
		case OPT_RPC_TIMEOUT:
			rpc_timeout = optarg;
			break;
		case OPT_GUI_CONTROL:
			gui_control = *optarg ? optarg : NULL;
			break;
		case OPT_WAYLAND_PROXY:
			wayland_proxy = optarg;
			break;
		case OPT_AUDIO_HOST:
			audio_host = optarg;
			break;
		case OPT_ACCEL:
			accel = optarg;
			break;
		case OPT_QCHAN:
			qchan = optarg;
			break;
		case OPT_CHECK_ACCEL:
			check_accel = true;
			break;
		case OPT_PROBE_TIMEOUT:
			probe_timeout = optarg;
			break;
		case OPT_UPLINK_NETNS:
			uplink_netns = *optarg ? optarg : NULL;
			break;
		case OPT_MEMORY_BALANCE:
			memory_balance = optarg;
			break;
		case OPT_MEMORY_RESERVE:
			memory_reserve = optarg;
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'f':
			break;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("bulkheadd %s\n", BULKHEAD_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bulkheadd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (streq(channel, "vsock")) {
		d.vsock = true;
		if (access("/dev/vhost-vsock", R_OK | W_OK) < 0) {
			log_error("--channel=vsock needs /dev/vhost-vsock (modprobe vhost_vsock); "
				  "use --channel=virtio-serial on this host");
			return 1;
		}
	} else if (!streq(channel, "virtio-serial")) {
		fprintf(stderr, "bulkheadd: --channel must be virtio-serial or vsock, not '%s'\n",
			channel);
		return 2;
	}
	if (accel_mode_parse(accel, &d.accel_mode) < 0) {
		fprintf(stderr, "bulkheadd: --accel must be auto, kvm or tcg, not '%s'\n", accel);
		return 2;
	}
	char *end;
	if (probe_timeout) {
		double s = strtod(probe_timeout, &end);
		if (*end || end == probe_timeout || !(s > 0) || s > 3600) {
			fprintf(stderr, "bulkheadd: --probe-timeout must be a number of seconds "
					"in (0, 3600]\n");
			return 2;
		}
		d.probe_timeout_ms = s * 1000 < 1 ? 1 : (unsigned)(s * 1000);
	}
	unsigned long t = strtoul(rpc_timeout, &end, 10);
	if (*end || end == rpc_timeout || t == 0 || t > 86400) {
		fprintf(stderr, "bulkheadd: --rpc-timeout must be 1..86400 seconds\n");
		return 2;
	}
	d.rpc_timeout_s = (unsigned)t;
	/* How long a qube's bulkhead-net-apply may take (seconds; the tests shorten it). */
	const char *nat = env_or("BULKHEAD_NET_APPLY_TIMEOUT", "60");
	t = strtoul(nat, &end, 10);
	if (*end || end == nat || t == 0 || t > 3600) {
		fprintf(stderr, "bulkheadd: $BULKHEAD_NET_APPLY_TIMEOUT must be 1..3600 seconds\n");
		return 2;
	}
	d.net_apply_timeout_ms = (unsigned)t * 1000;
	if (uplink_netns) {
		/* Checked now, not when sys-net first starts: a typo must not surface later. */
		int fd = netns_open(uplink_netns);
		if (fd == -EINVAL) {
			fprintf(stderr,
				"bulkheadd: --uplink-netns takes a namespace name ([A-Za-z0-9._-], "
				"at most %d characters), not '%s'\n",
				NETNS_NAME_MAX, uplink_netns);
			return 2;
		}
		if (fd < 0) {
			fprintf(stderr,
				"bulkheadd: --uplink-netns %s: cannot open /run/netns/%s: %s "
				"(make it with ip netns add)\n",
				uplink_netns, uplink_netns, strerror(-fd));
			return 2;
		}
		close(fd);
		d.uplink_netns = xstrdup(uplink_netns);
	}
	d.policy_dir = xstrdup(policy);
	if (geteuid() != 0)
		log_warn("not running as root: libvirt's system connection and the store may "
			 "refuse access");

	d.state_dir = xstrdup(state);
	d.socket_path = xstrdup(sock);
	_cleanup_free_ char *sockcopy = xstrdup(sock);
	d.run_dir = xstrdup(dirname(sockcopy));
	d.libvirt_uri = xstrdup(uri);
	d.domain_prefix = xstrdup(prefix);
	d.images_dir = xstrdup(images);
	d.agent_path = xstrdup(agent);
	d.gui_control = gui_control ? xstrdup(gui_control) : NULL;
	d.gui_control_fixed = gui_control != NULL;
	d.wayland_proxy = xstrdup(wayland_proxy);
	d.qchan_path = xstrdup(qchan);
	d.audio_host = xstrdup(audio_host);
	d.icon_convert = xstrdup(icon_convert);
	if (access(d.qchan_path, X_OK) < 0) {
		log_error("the channel process %s is not executable: %s (set BULKHEAD_QCHAN)",
			  d.qchan_path, strerror(errno));
		return daemon_teardown(&d), 1;
	}

	_cleanup_free_ char *qube_socks = xasprintf("%s/qubes", d.run_dir);
	_cleanup_free_ char *gui_socks = gui_channel_dir(&d);
	_cleanup_free_ char *audio_socks = audio_channel_dir(&d);
	if ((r = mkdir_p(d.run_dir, 0755)) < 0 || (r = mkdir_p(qube_socks, 0700)) < 0 ||
	    (r = mkdir_p(gui_socks, 0700)) < 0 || (r = mkdir_p(audio_socks, 0700)) < 0) {
		log_error("cannot create the sockets' directories under %s: %s", d.run_dir,
			  strerror(-r));
		return daemon_teardown(&d), 1;
	}
	if (streq(memory_balance, "off"))
		d.memory_balance_off = true;
	else if (!streq(memory_balance, "on")) {
		fprintf(stderr, "bulkheadd: --memory-balance must be on or off, not '%s'\n",
			memory_balance);
		return daemon_teardown(&d), 1;
	}
	d.memory_reserve_mib = HOST_MEMORY_RESERVE_MIB;
	if (memory_reserve) {
		char *rest;
		errno = 0;
		unsigned long long v = strtoull(memory_reserve, &rest, 10);
		if (errno || rest == memory_reserve || *rest || *memory_reserve == '-' ||
		    v > 1ull << 30) {
			fprintf(stderr,
				"bulkheadd: --memory-reserve must be a number of MiB (0..%llu), "
				"not '%s'\n",
				1ull << 30, memory_reserve);
			return daemon_teardown(&d), 1;
		}
		d.memory_reserve_mib = v;
	}
	if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return daemon_teardown(&d), 1;
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	/* Disposable names (dispN) only need to differ from run to run. */
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	if (virEventRegisterDefaultImpl() < 0) {
		log_error("cannot set up libvirt's event loop");
		return daemon_teardown(&d), 1;
	}
	virEventAddHandle(signal_pipe[0], VIR_EVENT_HANDLE_READABLE, signal_io, &d, NULL);
	/* Reads nothing of the store and removes nothing: safe beside a running bulkheadd. */
	if (check_accel) {
		if (backend_open(&d) < 0)
			return daemon_teardown(&d), 1;
		r = accel_check(&d);
		daemon_teardown(&d);
		return r < 0 ? 1 : 0;
	}
	gui_init(&d);
	audio_init(&d);
	if (load_store(&d) < 0)
		return daemon_teardown(&d), 1;
	remove_build_leftovers(&d);
	/* Lower layers report to the ones above and never call them: the backend's domain
	 * events go to the lifecycle code, what became of a qube to the API's waiting clients. */
	lifecycle_init(&d);
	api_waiters_init(&d);
	if (backend_open(&d) < 0)
		return daemon_teardown(&d), 1;
	if (accel_init(&d) < 0)
		return daemon_teardown(&d), 1;
	if (daemon_reconcile(&d) < 0)
		return daemon_teardown(&d), 1;
	r = api_server_start(&d);
	if (r < 0) {
		log_error("cannot listen on %s: %s", d.socket_path, strerror(-r));
		return daemon_teardown(&d), 1;
	}
	balancer_start(&d);
	autostart_qubes(&d);
	log_info("listening on %s (hypervisor: %s)", d.socket_path, d.accel.kvm ? "kvm" : "tcg");

	while (!d.quit)
		if (virEventRunDefaultImpl() < 0)
			break;

	/* Qubes keep running without us; the next start adopts them. */
	log_info("stopping");
	daemon_teardown(&d);
	return 0;
}

/* Frees whatever main() set up, on every way out (so a refusal is not also a leak). */
static void daemon_teardown(struct daemon *d)
{
	api_server_stop(d);
	balancer_stop(d);
	rpc_free_all(d);
	rpc_policy_cache_free(d);
	while (d->n_vms)
		daemon_remove_vm(d, d->vms[d->n_vms - 1]);
	free(d->vms);
	net_free(d);
	host_prefs_finish(&d->host_prefs);
	backend_close(d);
	daemon_free_config(d);
}

/* What main() set up before the store: freed on every way out. */
static void daemon_free_config(struct daemon *d)
{
	store_free(d->store);
	free(d->state_dir);
	free(d->socket_path);
	free(d->run_dir);
	free(d->libvirt_uri);
	free(d->domain_prefix);
	free(d->images_dir);
	free(d->agent_path);
	free(d->gui_control);
	free(d->audio_host);
	free(d->wayland_proxy);
	free(d->qchan_path);
	free(d->icon_convert);
	free(d->uplink_netns);
	free(d->policy_dir);
	for (size_t i = 0; i < d->n_quarantined; i++)
		free(d->quarantined[i]);
	free(d->quarantined);
}
