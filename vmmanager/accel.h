/*
 * Which accelerator qubes run under. A /dev/kvm that bulkheadd can open is not enough: where
 * udev never ran it is 0600 root and libvirt's QEMU user is refused, and under nested KVM the
 * host-passthrough CPU dies ("failed to set MSR") while other models hang at early boot. So
 * "auto" checks that the QEMU user can open /dev/kvm, then boots a probe guest (the qube kernel,
 * its initramfs told to print a marker and power off) under KVM with a short limit, falling back
 * through CPU models, and uses TCG when nothing works, saying why.
 */
#pragma once

#include <stdbool.h>

#include "domain-xml.h"

struct daemon;

enum accel_mode { ACCEL_AUTO, ACCEL_KVM, ACCEL_TCG };

struct accel_choice {
	bool decided; /* false until the probe could run (it needs the qube kernel) */
	bool kvm;
	enum domain_cpu cpu; /* under KVM */
	char reason[512];    /* why this choice, for the log and `bulkhead info` */
};

/* "auto", "kvm", "tcg" -> mode; -EINVAL otherwise. */
int accel_mode_parse(const char *s, enum accel_mode *ret);
const char *accel_mode_name(enum accel_mode m);

/* Decides d->accel for d->accel_mode. KVM that the QEMU user cannot open is refused at once
 * (-EACCES for --accel kvm, TCG for auto); the probe boot runs when the kernel is there and
 * otherwise later, from accel_ensure() at the first start. Auto reuses a probe result cached in
 * the state directory for this boot, kernel, QEMU and /dev/kvm. */
int accel_init(struct daemon *d);
/* Runs the deferred probe if it has not run yet. Blocks for the probe (seconds). */
void accel_ensure(struct daemon *d);

/* bulkheadd --check-accel: probes afresh (no cache) for the given mode and prints what it
 * found; for --accel tcg it boots the probe guest under TCG. Returns 0 when a choice was made. */
int accel_check(struct daemon *d);

/* "kvm (host-passthrough)" or "tcg". */
const char *accel_describe(const struct accel_choice *a, char *buf, size_t size);
