"""Produces task entries for Benchmarks/tasks.sh, straight into Redis over a socket.

  tasks.py PORT throughput TENANTS_AND_AGENTS_FILE COUNT   agent_validate spread over the tenants' agents
  tasks.py PORT flood TENANT AGENT COUNT                    one tenant's backlog, as fast as Redis takes it
  tasks.py PORT trickle TENANT AGENT COUNT INTERVAL_MS      a quiet tenant's single tasks, one at a time

Each message's created_at is the moment it is sent, so the wait from XADD to completion can be
read from Postgres afterwards (tasks.updated_at is when the task's outcome was recorded).
"""
import datetime, json, random, socket, sys, time, uuid


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def message(tenant, agent):
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps({"task_id": str(uuid.uuid4()), "tenant_id": tenant, "type": "agent_validate", "priority": 5,
                       "created_at": now, "metadata": {"source": "orchestrator"}, "payload": {"agent_id": agent}})


def send_all(sock, commands, window=2000):
    """Pipelines commands in windows and reads the replies (one line each for XADD)."""
    reader = sock.makefile("rb")
    for i in range(0, len(commands), window):
        chunk = commands[i:i + window]
        sock.sendall(b"".join(chunk))
        for _ in chunk:
            line = reader.readline()
            if line.startswith(b"$"):
                reader.readline()
            elif line.startswith(b"-"):
                sys.exit("redis refused: %r" % line)


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    sock = socket.create_connection(("127.0.0.1", port))
    if mode == "throughput":
        pairs = [line.split() for line in open(sys.argv[3]) if line.strip()]
        count = int(sys.argv[4])
        commands = []
        for _ in range(count):
            tenant, agent = random.choice(pairs)
            commands.append(resp("XADD", "agent-management.validation." + tenant, "*", "message", message(tenant, agent)))
        send_all(sock, commands)
    elif mode == "flood":
        tenant, agent, count = sys.argv[3], sys.argv[4], int(sys.argv[5])
        send_all(sock, [resp("XADD", "agent-management.validation." + tenant, "*", "message", message(tenant, agent)) for _ in range(count)])
    elif mode == "trickle":
        tenant, agent, count, interval = sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6]) / 1000
        for _ in range(count):
            send_all(sock, [resp("XADD", "agent-management.validation." + tenant, "*", "message", message(tenant, agent))])
            time.sleep(interval)


main()
