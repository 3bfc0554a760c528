/* commands: the subcommands of the `ipamwatch` front end. Each takes the arguments after
 * its name (argv[0] is the subcommand) and returns the process exit status:
 * 0 success, 1 runtime failure, 2 usage or configuration error. Main thread only. */
#ifndef IPAMWATCH_COMMANDS_H
#define IPAMWATCH_COMMANDS_H


/* Exit statuses shared by every subcommand. */
#define EXIT_USAGE 2

#endif
