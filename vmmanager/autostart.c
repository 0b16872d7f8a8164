/* Starting the autostart qubes once per host boot (autostart.h). */
#include "autostart.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "lifecycle.h"
#include "log.h"
#include "qube.h"
#include "util.h"

#define AUTOSTART_MARK "autostart-done"

void autostart_qubes(struct daemon *d)
{
	_cleanup_free_ char *mark = xasprintf("%s/%s", d->run_dir, AUTOSTART_MARK);
	int fd = open(mark, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		if (errno == EEXIST)
			log_debug("autostart: already done since the host booted (%s)", mark);
		else
			log_warn("autostart: cannot create %s (%m); qubes are not autostarted",
				 mark);
		return;
	}
	close(fd);
	/* A netvm started for its client earlier in the list is no longer halted here. */
	for (size_t i = 0; i < d->n_vms; i++) {
		struct vm *vm = d->vms[i];
		_cleanup_free_ char *err = NULL, *msg = NULL;
		if (!vm->q->autostart || vm->q->call_disposable || vm->state != VM_HALTED)
			continue;
		if (vm_start(d, vm, &err, &msg) < 0)
			log_warn("autostart: cannot start %s: %s", vm->q->name, msg ? msg : "?");
		else
			log_info("autostart: starting %s", vm->q->name);
	}
}
