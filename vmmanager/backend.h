/*
 * The libvirt side (libvirt-backend.c): the connection, domains made from the model, and
 * libvirt's domain events. It reports those events to one listener, the lifecycle code, and
 * never calls up into it.
 */
#pragma once

#include <stdbool.h>

#include "daemon.h"

struct backend_listener {
	/* vm's domain stopped: reason is "crashed", "failed" or "stopped". */
	void (*domain_stopped)(struct daemon *d, struct vm *vm, const char *reason);
	/* vm's domain was suspended or resumed (by us, or by anyone with libvirt access). */
	void (*domain_suspended)(struct daemon *d, struct vm *vm);
	void (*domain_resumed)(struct daemon *d, struct vm *vm);
	/* backend_adopt_domains found vm's domain running (or paused) from before this
	 * bulkheadd. */
	void (*domain_found)(struct daemon *d, struct vm *vm, bool paused);
};

/* Registers the one listener (before backend_open). */
void backend_set_listener(struct daemon *d, const struct backend_listener *l);
int backend_open(struct daemon *d);
void backend_close(struct daemon *d);
/* Creates vm's domain off the event loop; done(0 or -errno, message, userdata) is called from
 * the loop later. Returns 0, or -errno with *ret_message when nothing was started. */
typedef void (*backend_create_done_fn)(int r, const char *message, void *userdata);
int backend_create_domain_async(struct daemon *d, struct vm *vm, backend_create_done_fn done,
				void *userdata, char **ret_message);
int backend_destroy_domain(struct daemon *d, const char *qube_name);
int backend_domain_state(struct daemon *d, const char *qube_name, enum vm_state *ret);
int backend_suspend(struct daemon *d, const char *qube_name);
int backend_resume(struct daemon *d, const char *qube_name);
/* Resumes off the event loop; done(0 or -errno, userdata) is called from the loop later. Returns
 * 0, or -errno when nothing was started (done is never called then). */
typedef void (*backend_resume_done_fn)(int r, void *userdata);
int backend_resume_async(struct daemon *d, const char *qube_name, backend_resume_done_fn done,
			 void *userdata);
/* The CID libvirt gave the running qube's vsock device. */
int backend_vsock_cid(struct daemon *d, const char *qube_name, unsigned *ret);
int backend_memory_rss_kib(struct daemon *d, const char *qube_name, unsigned long long *ret);
/* A running qube's memory (KiB): cur_kib, its balloon as libvirt records it; max_kib, its
 * domain's <memory> (what the balloon can give at most, fixed at start); rss_kib, its
 * QEMU's resident memory (the host's count); used_kib, what the guest says it uses and cannot
 * reclaim (cur_kib less its MemAvailable; untrusted), has_used false until it has reported. */
struct backend_mem_stats {
	unsigned long long cur_kib, max_kib, rss_kib, used_kib;
	bool has_rss, has_used;
};
int backend_memory_stats(struct daemon *d, const char *qube_name, struct backend_mem_stats *ret);
/* Sets the running qube's balloon target (virDomainSetMemoryFlags, live only). */
int backend_set_memory(struct daemon *d, const char *qube_name, unsigned long long kib);
/* Goes through the running domains of ours: reports those of known qubes (domain_found);
 * destroys those whose qube is gone and disposables made for calls (their calls ended with
 * the previous bulkheadd); leaves alone those whose qube's entry is quarantined (it exists, it
 * just did not load). */
int backend_adopt_domains(struct daemon *d);

/* Network links (net.h): a virtio-net NIC whose frames go through fd, one end of an AF_UNIX
 * SOCK_DGRAM socketpair (a link between qubes) or, with stream, of a SOCK_STREAM one in QEMU's
 * length-prefixed framing (passt, sys-net's uplink), plugged into the first free one of the
 * qube's reserved root ports (domain-xml.h) through QEMU's monitor: getfd, netdev_add dgram or
 * socket on that fd, device_add virtio-net-pci. fd stays the caller's (QEMU got its own copy).
 * *ret_dev is the device's id, for unplug. -ENOSPC: every port holds a NIC (one being unplugged
 * still counts). */
int backend_nic_plug(struct daemon *d, const char *qube_name, unsigned ports, int fd, bool stream,
		     const char *mac, char **ret_dev, char **ret_message);
/* Asks the guest to let go of the NIC (device_del) and drops its backend at once (netdev_del):
 * no frame moves through it from now on, whatever the guest does. A NIC that is gone already
 * is no error. */
int backend_nic_unplug(struct daemon *d, const char *qube_name, const char *dev);
