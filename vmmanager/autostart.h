/*
 * Qubes whose property autostart is true start with the host, as Qubes' qubes-vm@ units do:
 * once per boot of the host, not at every start of bulkheadd (a qube the user shut down stays
 * down across a restart of the daemon). The run directory is on /run, which a boot empties, so a
 * mark there says the boot's autostart is done.
 */
#pragma once

struct daemon;

/* Starts every halted qube with autostart (their netvms first, as any start does) unless this
 * boot's mark exists, then makes the mark. Failures are logged; none stops bulkheadd. */
void autostart_qubes(struct daemon *d);
