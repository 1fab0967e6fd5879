"""Runs AWS CLI command lines in one long-lived python process: used by test/tools/helpers.ts.

/usr/bin/aws is `sys.exit(awscli.clidriver.main())`; starting Python and importing the CLI costs more than
most commands, so the tests send their command lines here instead. Each one gets what a fresh `aws`
process would: a new driver (new session: configuration and credentials read again), the environment
given with the command, its own working directory, and its stdout/stderr captured at the file-descriptor
level (the CLI also writes to sys.stdout.buffer and from threads).

Protocol: one JSON object per line on stdin {"args": [...], "env": {...}, "cwd": "..."};
one JSON line per command on stdout {"code": N, "stdout": "...", "stderr": "..."}.
"""
import json
import os
import sys
import tempfile

# The replies go through a duplicate of the original stdout; fds 1 and 2 are lent to each command.
reply = os.fdopen(os.dup(1), "w", encoding="utf-8")
requests = sys.stdin

import awscli.clidriver  # noqa: E402

# Importing awscli puts its data directory into AWS_DATA_PATH; every command needs it.
DATA_PATH = os.environ["AWS_DATA_PATH"]


def run(args, env, cwd):
    os.environ.clear()
    os.environ.update(env)
    os.environ["AWS_DATA_PATH"] = DATA_PATH
    os.chdir(cwd)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        saved = os.dup(1), os.dup(2)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            # What /usr/bin/aws runs: awscli.clidriver.main() is AWSCLIEntryPoint().main(sys.argv[1:]).
            code = awscli.clidriver.AWSCLIEntryPoint().main(args)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 255)
        except BaseException as e:  # what would have been an uncaught exception in /usr/bin/aws
            import traceback
            traceback.print_exc()
            code = 255
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        out.seek(0)
        err.seek(0)
        return code, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")


for line in requests:
    if not line.strip():
        continue
    req = json.loads(line)
    code, stdout, stderr = run(req["args"], req["env"], req["cwd"])
    reply.write(json.dumps({"code": code, "stdout": stdout, "stderr": stderr}) + "\n")
    reply.flush()
