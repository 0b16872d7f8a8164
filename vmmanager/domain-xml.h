/*
 * libvirt domain XML for one qube: direct kernel boot, four virtio disks, the control channel,
 * the GUI and audio ports when the qube has them, a serial console written to a file, empty PCIe
 * root ports bulkheadd plugs network links into while the qube runs (vmmanager/net.h), and nothing
 * else a qube does not need (no network interface at start, no graphics, no video, no USB, no
 * emulated sound card: sound goes over the audio port).
 */
#pragma once

#include <stdbool.h>

#include "audio-proto.h"
#include "qube.h"

#define DOMAIN_CHANNEL_AUDIO AUDIO_PORT_NAME

/* The virtio-serial port names the guest looks for. */
#define DOMAIN_CHANNEL_CONTROL "org.bulkhead.control"
#define DOMAIN_CHANNEL_GUI     "org.bulkhead.gui"
/* DOMAIN_CHANNEL_AUDIO is AUDIO_PORT_NAME (audio/audio-proto.h), the audio halves' contract. */
/* The namespace of our <metadata> element. */
#define DOMAIN_METADATA_NS "https://bulkhead.invalid/ns/1"
#define DOMAIN_EMULATOR	   "/usr/bin/qemu-system-x86_64"
/* How often QEMU asks the guest for its memory statistics (the balancer reads them). */
#define DOMAIN_BALLOON_STATS_PERIOD_S 1

/* The CPU a KVM guest sees. The first is what qubes get where it works; the others are what
 * the accelerator probe falls back to where nested KVM refuses host-passthrough. TCG always
 * keeps QEMU's default model. */
enum domain_cpu {
	DOMAIN_CPU_HOST_PASSTHROUGH,
	DOMAIN_CPU_HOST_MODEL,
	DOMAIN_CPU_QEMU64,
	_DOMAIN_CPU_MAX,
};
const char *domain_cpu_name(enum domain_cpu cpu);

struct domain_params {
	const struct qube *q;	 /* required: memory, maxmem, vcpus, name */
	const char *domain_name; /* required: [A-Za-z0-9_.-], at most 64 characters */
	const char *uuid;	 /* NULL: libvirt picks one */
	bool kvm;		 /* <domain type='kvm'>; else 'qemu' (TCG) */
	enum domain_cpu cpu;	 /* under KVM only */
	const char *kernel;	 /* required */
	const char *initrd;	 /* NULL: none */
	const char *cmdline;	 /* NULL: none */
	/* Disks, in this order, with a <serial> of the same name so the guest finds them by
	 * /dev/disk/by-id/virtio-NAME: root (vda, qcow2), private (vdb, qcow2), volatile (vdc,
	 * qcow2), modules (vdd, raw, read-only). root and private are required. */
	const char *root, *private_, *volatile_, *modules;
	const char *channel_path;	/* required: unix socket QEMU listens on (control port) */
	const char *gui_channel_path;	/* NULL: no GUI port */
	const char *audio_channel_path; /* NULL: no audio port */
	bool vsock;			/* also a virtio-vsock device (auto CID) for the channel */
	const char *console_log;	/* required: ttyS0 goes to this file */
	const char *metadata_state_dir; /* NULL: attribute omitted */
	/* Empty pcie-root-ports for network links plugged later, named DOMAIN_HOTPLUG_PORT_ALIAS
	 * with their number 0..n-1 (QEMU's id of the port is the alias). At most
	 * DOMAIN_HOTPLUG_PORTS_MAX. */
	unsigned hotplug_ports;
};

#define DOMAIN_HOTPLUG_PORT_ALIAS "ua-bhport" /* libvirt keeps user aliases ("ua-") as they are */
#define DOMAIN_HOTPLUG_PORTS_MAX  32

/* Every path must be absolute and printable ASCII; anything else is -EINVAL (nothing from a
 * qube ends up here, but a bad path must not turn into a different XML document). */
int domain_xml_generate(const struct domain_params *p, char **ret_xml);

/* The accelerator probe's guest: the qube kernel and initramfs, no disks, no channel, only a
 * console file, so that whether the kernel reaches init can be read from the console. */
struct probe_domain_params {
	const char *domain_name; /* required */
	bool kvm;
	enum domain_cpu cpu;
	const char *kernel;	 /* required */
	const char *initrd;	 /* required */
	const char *cmdline;	 /* required */
	const char *console_log; /* required */
};
int domain_xml_probe(const struct probe_domain_params *p, char **ret_xml);
