// Starts one benchmark process for run.ts so that it cannot outlive the
// harness: it gets SIGKILL when its parent dies, however the parent dies.
//
// usage: guard HARNESS_PID COMMAND [ARG...]
//        guard HARNESS_PID --rusage COMMAND [ARG...]
//
// The first form execs COMMAND in place, so its pid is the one the harness
// started and /proc/PID describes the command itself. The second forks,
// waits, and after everything the command printed writes one line to stdout,
// "rusage USER_S SYS_S MAXRSS_KIB" (wait4's accounting of the command), then
// exits with the command's status.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

// Dies with `parent`. Checking the parent after prctl() closes the window in
// which it died before the death signal was armed.
static void die_with(pid_t parent) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(125);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: guard HARNESS_PID [--rusage] COMMAND [ARG...]\n");
    return 2;
  }
  die_with((pid_t)atol(argv[1]));
  int rusage = strcmp(argv[2], "--rusage") == 0;
  char **cmd = argv + 2 + rusage;
  if (*cmd == NULL) return 2;
  if (!rusage) {
    execvp(cmd[0], cmd);
    fprintf(stderr, "guard: %s: %s\n", cmd[0], strerror(errno));
    return 127;
  }
  pid_t self = getpid();
  pid_t child = fork();
  if (child < 0) return 125;
  if (child == 0) {
    die_with(self);
    execvp(cmd[0], cmd);
    fprintf(stderr, "guard: %s: %s\n", cmd[0], strerror(errno));
    _exit(127);
  }
  int status;
  struct rusage ru;
  while (wait4(child, &status, 0, &ru) < 0) {
    if (errno != EINTR) return 125;
  }
  printf("rusage %ld.%06ld %ld.%06ld %ld\n", (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec,
         (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec, ru.ru_maxrss);
  fflush(stdout);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
