/*
 * main.c - entry point: hands argv to the CLI, nothing else.
 */
#include "common/mfs.h"
#include "cli/cli.h"

int main(int argc, char **argv)
{
	return cli_main(argc, argv);
}
