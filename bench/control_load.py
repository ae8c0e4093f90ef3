"""Load for bench_control.sh: N event subscribers on the daemon's gRPC
socket and a scrape of GET /metrics every INTERVAL seconds, until stdin
closes.  Prints how many scrapes and events it saw when it ends.

usage: control_load.py STUBS_DIR SOCKET METRICS_PORT N INTERVAL
"""
import sys
import threading
import time
import urllib.request

import grpc

sys.path.insert(0, sys.argv[1])
import musicfs_pb2 as pb  # noqa: E402
import musicfs_pb2_grpc as rpc  # noqa: E402

sock, port = sys.argv[2], int(sys.argv[3])
n, interval = int(sys.argv[4]), float(sys.argv[5])
stop = threading.Event()
events = [0]
scrapes = [0]
streams = []


def subscribe(stub):
    call = stub.SubscribeEvents(pb.SubscribeEventsRequest())
    streams.append(call)
    try:
        for _ in call:
            events[0] += 1
    except grpc.RpcError:
        pass


def scrape():
    url = f"http://127.0.0.1:{port}/metrics"
    while not stop.is_set():
        with urllib.request.urlopen(url, timeout=5) as r:
            r.read()
        scrapes[0] += 1
        stop.wait(interval)


channel = grpc.insecure_channel(f"unix:{sock}")
stub = rpc.MusicFSStub(channel)
threads = [threading.Thread(target=subscribe, args=(stub,), daemon=True)
           for _ in range(n)]
threads.append(threading.Thread(target=scrape, daemon=True))
for t in threads:
    t.start()
time.sleep(1)
status = stub.GetStatus(pb.GetStatusRequest(), timeout=5)
print(f"load: {n} subscribers open, scraping every {interval} s", flush=True)
sys.stdin.read()
stop.set()
for c in streams:
    c.cancel()
print(f"load: {scrapes[0]} scrapes, {events[0]} events", flush=True)
