/*
 * Domain XML through libxml2's xmlTextWriter, which escapes text and attribute values, so a
 * kernel command line with quotes, '<' or '&' stays one attribute-safe string.
 */
#include "domain-xml.h"

#include <limits.h>

#include <libxml/xmlwriter.h>

#include "util.h"

#define DOMAIN_NAME_MAX 64
#define CMDLINE_MAX	4096

static bool printable(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

static bool path_ok(const char *path, bool required)
{
	if (!path)
		return !required;
	return path[0] == '/' && printable(path, PATH_MAX - 1);
}

static bool uuid_ok(const char *u)
{
	/* 8-4-4-4-12 hex digits. */
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		char c = u[i];

		if (dash ? c != '-'
			 : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			     (c >= 'A' && c <= 'F')))
			return false;
	}
	return u[36] == '\0';
}

static bool domain_name_ok(const char *n)
{
	size_t len = n ? strnlen(n, DOMAIN_NAME_MAX + 1) : 0;

	if (len == 0 || len > DOMAIN_NAME_MAX || n[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = n[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static int params_check(const struct domain_params *p)
{
	const struct qube *q = p->q;

	if (!q || qube_name_check(q->name, NULL) < 0 || q->vcpus < 1 || q->vcpus > QUBE_VCPUS_MAX ||
	    q->memory < 1 || q->memory > QUBE_MEMORY_MAX || q->maxmem > QUBE_MEMORY_MAX)
		return -EINVAL;
	if (!domain_name_ok(p->domain_name) || (p->uuid && !uuid_ok(p->uuid)))
		return -EINVAL;
	if (!path_ok(p->kernel, true) || !path_ok(p->initrd, false) || !path_ok(p->root, true) ||
	    !path_ok(p->private_, true) || !path_ok(p->volatile_, false) ||
	    !path_ok(p->modules, false) || !path_ok(p->channel_path, true) ||
	    !path_ok(p->gui_channel_path, false) || !path_ok(p->audio_channel_path, false) ||
	    !path_ok(p->console_log, true) || !path_ok(p->metadata_state_dir, false))
		return -EINVAL;
	if (p->cmdline && !printable(p->cmdline, CMDLINE_MAX))
		return -EINVAL;
	if (p->hotplug_ports > DOMAIN_HOTPLUG_PORTS_MAX)
		return -EINVAL;
	return 0;
}

/* Each writer call returns < 0 on failure; the first failure ends generation. */
#define W(call)                                                                                    \
	do {                                                                                       \
		if ((call) < 0)                                                                    \
			return -ENOMEM;                                                            \
	} while (0)
#define X(s) BAD_CAST(s)

static int elem_text(xmlTextWriterPtr w, const char *name, const char *text)
{
	W(xmlTextWriterWriteElement(w, X(name), X(text)));
	return 0;
}

/* <name attr1='v1' .../> with NULL-terminated attribute pairs. */
static int elem_empty(xmlTextWriterPtr w, const char *name, const char *const *attrs)
{
	W(xmlTextWriterStartElement(w, X(name)));
	for (; attrs && attrs[0]; attrs += 2)
		W(xmlTextWriterWriteAttribute(w, X(attrs[0]), X(attrs[1])));
	W(xmlTextWriterEndElement(w));
	return 0;
}

#define ATTRS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* With root ports reserved for network links, every other PCI device gets a slot of its own on
 * the root complex (an integrated endpoint, never hot-plugged): left to libvirt, it would take
 * the first free root ports, ours, and a NIC plugged later would land beside it where the guest
 * never sees it. slot 0: libvirt chooses (a domain without reserved ports). */
#define FIXED_SLOT_DISK0   0x10 /* vda..vdd: 0x10..0x13 */
#define FIXED_SLOT_SERIAL  0x14
#define FIXED_SLOT_VSOCK   0x15
#define FIXED_SLOT_BALLOON 0x16
#define FIXED_SLOT_RNG	   0x17

static int elem_pci_slot(xmlTextWriterPtr w, unsigned slot)
{
	char s[8];

	if (slot == 0)
		return 0;
	snprintf(s, sizeof(s), "0x%02x", slot);
	return elem_empty(
	    w, "address",
	    ATTRS("type", "pci", "domain", "0x0000", "bus", "0x00", "slot", s, "function", "0x0"));
}

static int write_disk(xmlTextWriterPtr w, const char *path, const char *dev, const char *serial,
		      bool raw_readonly, unsigned slot)
{
	int r;

	if (!path)
		return 0;
	W(xmlTextWriterStartElement(w, X("disk")));
	W(xmlTextWriterWriteAttribute(w, X("type"), X("file")));
	W(xmlTextWriterWriteAttribute(w, X("device"), X("disk")));
	/* writeback honours the guest's flushes (unlike "unsafe") and, unlike "none", works on
	 * filesystems without O_DIRECT such as tmpfs. */
	if (raw_readonly)
		r = elem_empty(w, "driver",
			       ATTRS("name", "qemu", "type", "raw", "cache", "writeback"));
	else
		r = elem_empty(w, "driver",
			       ATTRS("name", "qemu", "type", "qcow2", "cache", "writeback",
				     "discard", "unmap"));
	if (r < 0)
		return r;
	if ((r = elem_empty(w, "source", ATTRS("file", path))) < 0 ||
	    (r = elem_empty(w, "target", ATTRS("dev", dev, "bus", "virtio"))) < 0)
		return r;
	if (raw_readonly && (r = elem_empty(w, "readonly", NULL)) < 0)
		return r;
	if ((r = elem_text(w, "serial", serial)) < 0 || (r = elem_pci_slot(w, slot)) < 0)
		return r;
	W(xmlTextWriterEndElement(w));
	return 0;
}

static int write_channel(xmlTextWriterPtr w, const char *path, const char *port)
{
	int r;

	if (!path)
		return 0;
	W(xmlTextWriterStartElement(w, X("channel")));
	W(xmlTextWriterWriteAttribute(w, X("type"), X("unix")));
	/* bind: QEMU listens, bulkheadd connects; the qube cannot open host sockets. */
	if ((r = elem_empty(w, "source", ATTRS("mode", "bind", "path", path))) < 0 ||
	    (r = elem_empty(w, "target", ATTRS("type", "virtio", "name", port))) < 0)
		return r;
	W(xmlTextWriterEndElement(w));
	return 0;
}

static const char *const cpu_names[_DOMAIN_CPU_MAX] = {
    [DOMAIN_CPU_HOST_PASSTHROUGH] = "host-passthrough",
    [DOMAIN_CPU_HOST_MODEL] = "host-model",
    [DOMAIN_CPU_QEMU64] = "qemu64",
};

const char *domain_cpu_name(enum domain_cpu cpu)
{
	return (unsigned)cpu < _DOMAIN_CPU_MAX ? cpu_names[cpu] : NULL;
}

/* TCG keeps QEMU's default CPU model: host-passthrough and host-model need KVM. */
static int write_cpu(xmlTextWriterPtr w, enum domain_cpu cpu)
{
	switch (cpu) {
	case DOMAIN_CPU_HOST_PASSTHROUGH:
	case DOMAIN_CPU_HOST_MODEL:
		return elem_empty(w, "cpu", ATTRS("mode", cpu_names[cpu]));
	case DOMAIN_CPU_QEMU64:
		W(xmlTextWriterStartElement(w, X("cpu")));
		W(xmlTextWriterWriteAttribute(w, X("mode"), X("custom")));
		W(xmlTextWriterWriteAttribute(w, X("match"), X("exact")));
		W(xmlTextWriterStartElement(w, X("model")));
		W(xmlTextWriterWriteAttribute(w, X("fallback"), X("allow")));
		W(xmlTextWriterWriteString(w, X(cpu_names[cpu])));
		W(xmlTextWriterEndElement(w));
		W(xmlTextWriterEndElement(w));
		return 0;
	default:
		return -EINVAL;
	}
}

static int write_domain(xmlTextWriterPtr w, const struct domain_params *p)
{
	const struct qube *q = p->q;
	unsigned long long max_kib, cur_kib;
	char num[32];
	int r;

	/* maxmem 0 means no balancing: the qube has exactly "memory". */
	cur_kib = (unsigned long long)q->memory * 1024;
	max_kib = q->maxmem > q->memory ? (unsigned long long)q->maxmem * 1024 : cur_kib;

	W(xmlTextWriterStartElement(w, X("domain")));
	W(xmlTextWriterWriteAttribute(w, X("type"), X(p->kvm ? "kvm" : "qemu")));
	if ((r = elem_text(w, "name", p->domain_name)) < 0)
		return r;
	if (p->uuid && (r = elem_text(w, "uuid", p->uuid)) < 0)
		return r;

	W(xmlTextWriterStartElement(w, X("metadata")));
	W(xmlTextWriterStartElementNS(w, X("bulkhead"), X("qube"), X(DOMAIN_METADATA_NS)));
	W(xmlTextWriterWriteAttribute(w, X("name"), X(q->name)));
	if (p->metadata_state_dir)
		W(xmlTextWriterWriteAttribute(w, X("statedir"), X(p->metadata_state_dir)));
	W(xmlTextWriterEndElement(w));
	W(xmlTextWriterEndElement(w));

	snprintf(num, sizeof(num), "%llu", max_kib);
	W(xmlTextWriterStartElement(w, X("memory")));
	W(xmlTextWriterWriteAttribute(w, X("unit"), X("KiB")));
	W(xmlTextWriterWriteString(w, X(num)));
	W(xmlTextWriterEndElement(w));
	snprintf(num, sizeof(num), "%llu", cur_kib);
	W(xmlTextWriterStartElement(w, X("currentMemory")));
	W(xmlTextWriterWriteAttribute(w, X("unit"), X("KiB")));
	W(xmlTextWriterWriteString(w, X(num)));
	W(xmlTextWriterEndElement(w));
	snprintf(num, sizeof(num), "%u", q->vcpus);
	W(xmlTextWriterStartElement(w, X("vcpu")));
	W(xmlTextWriterWriteAttribute(w, X("placement"), X("static")));
	W(xmlTextWriterWriteString(w, X(num)));
	W(xmlTextWriterEndElement(w));

	W(xmlTextWriterStartElement(w, X("os")));
	W(xmlTextWriterStartElement(w, X("type")));
	W(xmlTextWriterWriteAttribute(w, X("arch"), X("x86_64")));
	W(xmlTextWriterWriteAttribute(w, X("machine"), X("q35")));
	W(xmlTextWriterWriteString(w, X("hvm")));
	W(xmlTextWriterEndElement(w));
	if ((r = elem_text(w, "kernel", p->kernel)) < 0)
		return r;
	if (p->initrd && (r = elem_text(w, "initrd", p->initrd)) < 0)
		return r;
	if (p->cmdline && (r = elem_text(w, "cmdline", p->cmdline)) < 0)
		return r;
	W(xmlTextWriterEndElement(w));

	W(xmlTextWriterStartElement(w, X("features")));
	if ((r = elem_empty(w, "acpi", NULL)) < 0 || (r = elem_empty(w, "apic", NULL)) < 0)
		return r;
	W(xmlTextWriterEndElement(w));
	if (p->kvm && (r = write_cpu(w, p->cpu)) < 0)
		return r;
	if ((r = elem_empty(w, "clock", ATTRS("offset", "utc"))) < 0)
		return r;
	/* bulkheadd decides what happens next (a reboot is a stop then a start). */
	if ((r = elem_text(w, "on_poweroff", "destroy")) < 0 ||
	    (r = elem_text(w, "on_reboot", "destroy")) < 0 ||
	    (r = elem_text(w, "on_crash", "destroy")) < 0)
		return r;
	W(xmlTextWriterStartElement(w, X("pm")));
	if ((r = elem_empty(w, "suspend-to-mem", ATTRS("enabled", "no"))) < 0 ||
	    (r = elem_empty(w, "suspend-to-disk", ATTRS("enabled", "no"))) < 0)
		return r;
	W(xmlTextWriterEndElement(w));

	W(xmlTextWriterStartElement(w, X("devices")));
	if ((r = elem_text(w, "emulator", DOMAIN_EMULATOR)) < 0)
		return r;
	bool fixed = p->hotplug_ports > 0;
	if ((r = write_disk(w, p->root, "vda", "root", false, fixed ? FIXED_SLOT_DISK0 : 0)) < 0 ||
	    (r = write_disk(w, p->private_, "vdb", "private", false,
			    fixed ? FIXED_SLOT_DISK0 + 1 : 0)) < 0 ||
	    (r = write_disk(w, p->volatile_, "vdc", "volatile", false,
			    fixed ? FIXED_SLOT_DISK0 + 2 : 0)) < 0 ||
	    (r = write_disk(w, p->modules, "vdd", "modules", true,
			    fixed ? FIXED_SLOT_DISK0 + 3 : 0)) < 0)
		return r;
	if ((r = elem_empty(w, "controller", ATTRS("type", "usb", "model", "none"))) < 0)
		return r;
	/* libvirt numbers PCI controllers itself only when none is given: with ours listed, the
	 * root complex must be too, as index 0, and ours follow it. */
	if (p->hotplug_ports > 0 &&
	    (r = elem_empty(w, "controller",
			    ATTRS("type", "pci", "index", "0", "model", "pcie-root"))) < 0)
		return r;
	for (unsigned i = 0; i < p->hotplug_ports; i++) {
		char alias[32], index[16];
		snprintf(alias, sizeof(alias), DOMAIN_HOTPLUG_PORT_ALIAS "%u", i);
		snprintf(index, sizeof(index), "%u", i + 1);
		W(xmlTextWriterStartElement(w, X("controller")));
		W(xmlTextWriterWriteAttribute(w, X("type"), X("pci")));
		W(xmlTextWriterWriteAttribute(w, X("index"), X(index)));
		W(xmlTextWriterWriteAttribute(w, X("model"), X("pcie-root-port")));
		if ((r = elem_empty(w, "alias", ATTRS("name", alias))) < 0)
			return r;
		W(xmlTextWriterEndElement(w));
	}
	if (fixed) {
		W(xmlTextWriterStartElement(w, X("controller")));
		W(xmlTextWriterWriteAttribute(w, X("type"), X("virtio-serial")));
		W(xmlTextWriterWriteAttribute(w, X("index"), X("0")));
		if ((r = elem_pci_slot(w, FIXED_SLOT_SERIAL)) < 0)
			return r;
		W(xmlTextWriterEndElement(w));
	}
	if ((r = write_channel(w, p->channel_path, DOMAIN_CHANNEL_CONTROL)) < 0 ||
	    (r = write_channel(w, p->gui_channel_path, DOMAIN_CHANNEL_GUI)) < 0 ||
	    (r = write_channel(w, p->audio_channel_path, DOMAIN_CHANNEL_AUDIO)) < 0)
		return r;
	/* A file chardev goes through virtlogd, which caps and rotates it: a qube printing
	 * without end cannot fill the host's disk. */
	W(xmlTextWriterStartElement(w, X("serial")));
	W(xmlTextWriterWriteAttribute(w, X("type"), X("file")));
	if ((r = elem_empty(w, "source", ATTRS("path", p->console_log))) < 0 ||
	    (r = elem_empty(w, "target", ATTRS("port", "0"))) < 0)
		return r;
	W(xmlTextWriterEndElement(w));
	W(xmlTextWriterStartElement(w, X("video")));
	if ((r = elem_empty(w, "model", ATTRS("type", "none"))) < 0)
		return r;
	W(xmlTextWriterEndElement(w));
	if (p->vsock) {
		/* The control channel over vsock; the virtio-serial port stays as a fallback. */
		W(xmlTextWriterStartElement(w, X("vsock")));
		W(xmlTextWriterWriteAttribute(w, X("model"), X("virtio")));
		if ((r = elem_empty(w, "cid", ATTRS("auto", "yes"))) < 0 ||
		    (r = elem_pci_slot(w, fixed ? FIXED_SLOT_VSOCK : 0)) < 0)
			return r;
		W(xmlTextWriterEndElement(w));
	}
	/* The balancer (balancer.c) reads the guest's memory statistics every period and moves
	 * the balloon; pages the guest frees go back to the host (free page reporting). No
	 * autodeflate: a guest must not grow past the target the balancer set. */
	W(xmlTextWriterStartElement(w, X("memballoon")));
	W(xmlTextWriterWriteAttribute(w, X("model"), X("virtio")));
	W(xmlTextWriterWriteAttribute(w, X("freePageReporting"), X("on")));
	snprintf(num, sizeof(num), "%u", DOMAIN_BALLOON_STATS_PERIOD_S);
	if ((r = elem_empty(w, "stats", ATTRS("period", num))) < 0 ||
	    (r = elem_pci_slot(w, fixed ? FIXED_SLOT_BALLOON : 0)) < 0)
		return r;
	W(xmlTextWriterEndElement(w));
	W(xmlTextWriterStartElement(w, X("rng")));
	W(xmlTextWriterWriteAttribute(w, X("model"), X("virtio")));
	W(xmlTextWriterStartElement(w, X("backend")));
	W(xmlTextWriterWriteAttribute(w, X("model"), X("random")));
	W(xmlTextWriterWriteString(w, X("/dev/urandom")));
	W(xmlTextWriterEndElement(w));
	if ((r = elem_pci_slot(w, fixed ? FIXED_SLOT_RNG : 0)) < 0)
		return r;
	W(xmlTextWriterEndElement(w));
	W(xmlTextWriterEndElement(w)); /* devices */

	W(xmlTextWriterEndElement(w)); /* domain */
	return 0;
}

static int write_probe(xmlTextWriterPtr w, const struct probe_domain_params *p)
{
	int r;

	W(xmlTextWriterStartElement(w, X("domain")));
	W(xmlTextWriterWriteAttribute(w, X("type"), X(p->kvm ? "kvm" : "qemu")));
	if ((r = elem_text(w, "name", p->domain_name)) < 0)
		return r;
	W(xmlTextWriterStartElement(w, X("memory")));
	W(xmlTextWriterWriteAttribute(w, X("unit"), X("MiB")));
	W(xmlTextWriterWriteString(w, X("256")));
	W(xmlTextWriterEndElement(w));
	if ((r = elem_text(w, "vcpu", "1")) < 0)
		return r;
	W(xmlTextWriterStartElement(w, X("os")));
	W(xmlTextWriterStartElement(w, X("type")));
	W(xmlTextWriterWriteAttribute(w, X("arch"), X("x86_64")));
	W(xmlTextWriterWriteAttribute(w, X("machine"), X("q35")));
	W(xmlTextWriterWriteString(w, X("hvm")));
	W(xmlTextWriterEndElement(w));
	if ((r = elem_text(w, "kernel", p->kernel)) < 0 ||
	    (r = elem_text(w, "initrd", p->initrd)) < 0 ||
	    (r = elem_text(w, "cmdline", p->cmdline)) < 0)
		return r;
	W(xmlTextWriterEndElement(w));
	W(xmlTextWriterStartElement(w, X("features")));
	if ((r = elem_empty(w, "acpi", NULL)) < 0 || (r = elem_empty(w, "apic", NULL)) < 0)
		return r;
	W(xmlTextWriterEndElement(w));
	if (p->kvm && (r = write_cpu(w, p->cpu)) < 0)
		return r;
	if ((r = elem_text(w, "on_poweroff", "destroy")) < 0 ||
	    (r = elem_text(w, "on_reboot", "destroy")) < 0 ||
	    (r = elem_text(w, "on_crash", "destroy")) < 0)
		return r;
	W(xmlTextWriterStartElement(w, X("devices")));
	if ((r = elem_text(w, "emulator", DOMAIN_EMULATOR)) < 0 ||
	    (r = elem_empty(w, "controller", ATTRS("type", "usb", "model", "none"))) < 0)
		return r;
	W(xmlTextWriterStartElement(w, X("serial")));
	W(xmlTextWriterWriteAttribute(w, X("type"), X("file")));
	if ((r = elem_empty(w, "source", ATTRS("path", p->console_log))) < 0 ||
	    (r = elem_empty(w, "target", ATTRS("port", "0"))) < 0)
		return r;
	W(xmlTextWriterEndElement(w));
	W(xmlTextWriterStartElement(w, X("video")));
	if ((r = elem_empty(w, "model", ATTRS("type", "none"))) < 0)
		return r;
	W(xmlTextWriterEndElement(w));
	if ((r = elem_empty(w, "memballoon", ATTRS("model", "none"))) < 0)
		return r;
	W(xmlTextWriterEndElement(w)); /* devices */
	W(xmlTextWriterEndElement(w)); /* domain */
	return 0;
}

typedef int (*xml_writer_fn)(xmlTextWriterPtr w, const void *p);

static int write_probe_any(xmlTextWriterPtr w, const void *p)
{
	return write_probe(w, p);
}

static int write_domain_any(xmlTextWriterPtr w, const void *p)
{
	return write_domain(w, p);
}

static int generate(xml_writer_fn fn, const void *p, char **ret_xml);

int domain_xml_probe(const struct probe_domain_params *p, char **ret_xml)
{
	if (!p || !domain_name_ok(p->domain_name) || !path_ok(p->kernel, true) ||
	    !path_ok(p->initrd, true) || !path_ok(p->console_log, true) || !p->cmdline ||
	    !printable(p->cmdline, CMDLINE_MAX) || (p->kvm && !domain_cpu_name(p->cpu)))
		return -EINVAL;
	return generate(write_probe_any, p, ret_xml);
}

int domain_xml_generate(const struct domain_params *p, char **ret_xml)
{
	if (!p || params_check(p) < 0 || (p->kvm && !domain_cpu_name(p->cpu)))
		return -EINVAL;
	return generate(write_domain_any, p, ret_xml);
}

static int generate(xml_writer_fn fn, const void *p, char **ret_xml)
{
	xmlBufferPtr buf;
	xmlTextWriterPtr w;
	int r;

	buf = xmlBufferCreate();
	if (!buf)
		return -ENOMEM;
	w = xmlNewTextWriterMemory(buf, 0);
	if (!w) {
		xmlBufferFree(buf);
		return -ENOMEM;
	}
	r = xmlTextWriterSetIndent(w, 1) < 0 || xmlTextWriterSetIndentString(w, X("  ")) < 0
		? -ENOMEM
		: fn(w, p);
	if (r == 0 && xmlTextWriterFlush(w) < 0)
		r = -ENOMEM;
	xmlFreeTextWriter(w);
	if (r == 0) {
		const char *s = (const char *)xmlBufferContent(buf);
		size_t len = strlen(s);
		/* One trailing newline, whatever the writer did. */
		*ret_xml = xasprintf("%.*s\n", (int)(len && s[len - 1] == '\n' ? len - 1 : len), s);
	}
	xmlBufferFree(buf);
	return r;
}
