#pragma once

/* Runs the terminal prompt for `ask` until bulkheadd goes away; returns an exit code. */
int policy_agent_run(void);
