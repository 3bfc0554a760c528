/* commands: the subcommands of the `ipamwatch` front end. Each takes the arguments after
 * its name (argv[0] is the subcommand) and returns the process exit status:
 * 0 success, 1 runtime failure, 2 usage or configuration error. Main thread only. */
#ifndef IPAMWATCH_COMMANDS_H
#define IPAMWATCH_COMMANDS_H


/* Exit statuses shared by every subcommand. */
#define EXIT_USAGE 2

/* ipamwatch broker: the development Kafka broker (cli/cmd_broker.c). */
int cmd_broker(int argc, char **argv);

/* ipamwatch check: validates the configuration and prints it redacted (cli/cmd_check.c). */
int cmd_check(int argc, char **argv);
/* ipamwatch collect: inventory into Kafka (cli/cmd_collect.c). */
int cmd_collect(int argc, char **argv);
/* ipamwatch analyze: Kafka records into model, RRD and journal (cli/cmd_analyze.c). */
int cmd_analyze(int argc, char **argv);
/* ipamwatch graph: one object's utilization as PNG or SVG (cli/cmd_graph.c). */
int cmd_graph(int argc, char **argv);
/* ipamwatch forecast: pools by projected exhaustion date (cli/cmd_forecast.c). */
int cmd_forecast(int argc, char **argv);
/* ipamwatch report: the compliance report of a period (cli/cmd_report.c). */
int cmd_report(int argc, char **argv);

#endif
