"""Server reflection (grpc.reflection.v1alpha and v1) seen by a generic
client, over the Unix socket and over TCP.

The client knows nothing of MusicFS: its only stubs are the reflection
ones, generated here from grpc-proto's reflection.proto (copied under a
flat name: at grpc/reflection/... the generated package would shadow
grpcio's own `grpc`).  Message classes for GetStatus are built from the
descriptors the daemon sends back.
"""

import importlib
import os
import shutil
import socket
import subprocess
import sys

import pytest

grpc = pytest.importorskip("grpc")
pytest.importorskip("grpc_tools")
from google.protobuf import (descriptor_pb2, descriptor_pool,  # noqa: E402
                             message_factory)

GRPC_PROTO = "/usr/share/grpc-proto/grpc/reflection"
VERSIONS = ("v1alpha", "v1")
SERVICES = {"musicfs.v1.MusicFS", "musicfs.v1.MetadataService",
            "grpc.reflection.v1alpha.ServerReflection",
            "grpc.reflection.v1.ServerReflection"}
NOT_FOUND, UNIMPLEMENTED = 5, 12


@pytest.fixture(scope="module")
def stubs(tmp_path_factory):
    """{version: (messages module, service module)}."""
    out = tmp_path_factory.mktemp("reflection_stubs")
    for v in VERSIONS:
        src = f"{GRPC_PROTO}/{v}/reflection.proto"
        if not os.path.exists(src):
            pytest.skip(f"{src} is missing (package grpc-proto)")
        shutil.copy(src, out / f"reflection_{v}.proto")
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc",
                        f"-I{out}", f"--python_out={out}",
                        f"--grpc_python_out={out}",
                        f"reflection_{v}.proto"], check=True)
    sys.path.insert(0, str(out))
    try:
        yield {v: (importlib.import_module(f"reflection_{v}_pb2"),
                   importlib.import_module(f"reflection_{v}_pb2_grpc"))
               for v in VERSIONS}
    finally:
        sys.path.remove(str(out))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def daemon(mount_factory, tmp_path):
    """A mount of an empty origin, its API on the socket and on TCP;
    yields {"unix": target, "tcp": target}."""
    origin = tmp_path / "empty"
    origin.mkdir()
    port = free_port()
    m = mount_factory([origin], extra=["--grpc-port", str(port),
                                       "--metrics-port", "0"])
    return {"unix": f"unix:{m.cache_dir / 'musicfs.sock'}",
            "tcp": f"127.0.0.1:{port}"}


class Reflection:
    """One channel and one reflection version."""

    def __init__(self, target, pb2, pb2_grpc):
        self.pb2 = pb2
        self.channel = grpc.insecure_channel(target)
        grpc.channel_ready_future(self.channel).result(timeout=10)
        self.stub = pb2_grpc.ServerReflectionStub(self.channel)

    def ask(self, *requests):
        """Send the requests on one stream; the responses, in order."""
        reqs = [self.pb2.ServerReflectionRequest(host="musicfs", **r)
                for r in requests]
        resps = list(self.stub.ServerReflectionInfo(iter(reqs), timeout=10))
        assert len(resps) == len(reqs)
        for q, a in zip(reqs, resps):
            assert a.valid_host == "musicfs"
            assert a.original_request == q
        return resps

    def file_protos(self, **request):
        (resp,) = self.ask(request)
        assert resp.WhichOneof("message_response") == \
            "file_descriptor_response", resp
        out = []
        for blob in resp.file_descriptor_response.file_descriptor_proto:
            fdp = descriptor_pb2.FileDescriptorProto()
            fdp.ParseFromString(blob)
            out.append(fdp)
        return out

    def close(self):
        self.channel.close()


@pytest.fixture
def clients(daemon, stubs):
    """reflection(version, transport) -> Reflection, closed at teardown."""
    made = []

    def make(version, transport):
        r = Reflection(daemon[transport], *stubs[version])
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def message_class(pool, name):
    desc = pool.FindMessageTypeByName(name)
    get = getattr(message_factory, "GetMessageClass", None)
    if get:
        return get(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


@pytest.mark.parametrize("version", VERSIONS)
def test_list_services(clients, version):
    for transport in ("unix", "tcp"):
        (resp,) = clients(version, transport).ask({"list_services": "*"})
        names = [s.name for s in resp.list_services_response.service]
        assert set(names) == SERVICES, (transport, names)


@pytest.mark.parametrize("version", VERSIONS)
def test_describe_and_call_get_status(clients, version, daemon):
    """Fetch the file of musicfs.v1.MusicFS, build GetStatus's messages
    from it and call it with no MusicFS stubs."""
    for transport in ("unix", "tcp"):
        r = clients(version, transport)
        files = r.file_protos(file_containing_symbol="musicfs.v1.MusicFS")
        assert files[0].name == "musicfs.proto"
        pool = descriptor_pool.DescriptorPool()
        # dependencies come after the file that needs them
        for fdp in reversed(files):
            pool.Add(fdp)
        svc = pool.FindServiceByName("musicfs.v1.MusicFS")
        method = svc.methods_by_name["GetStatus"]
        req_cls = message_class(pool, method.input_type.full_name)
        resp_cls = message_class(pool, method.output_type.full_name)
        call = r.channel.unary_unary(
            f"/{svc.full_name}/{method.name}",
            request_serializer=req_cls.SerializeToString,
            response_deserializer=resp_cls.FromString)
        status = call(req_cls(), timeout=10)
        assert status.version, status
        assert status.mounted is True
        assert status.uptime_seconds >= 0


@pytest.mark.parametrize("version", VERSIONS)
def test_symbols_and_files(clients, version):
    r = clients(version, "unix")
    for symbol in ("musicfs.v1.MusicFS.GetStatus",
                   "musicfs.v1.GetStatusResponse",
                   "musicfs.v1.GetStatusResponse.tasks",
                   "musicfs.v1.TaskState",
                   "musicfs.v1.TASK_STATE_RUNNING",
                   "musicfs.v1.MetadataService"):
        assert [f.name for f in r.file_protos(
            file_containing_symbol=symbol)] == ["musicfs.proto"], symbol
    for v in VERSIONS:
        name = f"grpc/reflection/{v}/reflection.proto"
        for files in (r.file_protos(file_by_filename=name),
                      r.file_protos(file_containing_symbol=f"grpc.reflection."
                                    f"{v}.ServerReflection.ServerReflection"
                                    f"Info")):
            assert [f.name for f in files] == [name]
            assert files[0].package == f"grpc.reflection.{v}"
            assert [s.name for s in files[0].service] == ["ServerReflection"]


@pytest.mark.parametrize("version", VERSIONS)
def test_errors_do_not_end_the_stream(clients, version, stubs):
    r = clients(version, "tcp")
    pb2 = stubs[version][0]
    ext = pb2.ExtensionRequest(containing_type="musicfs.v1.GetStatusRequest",
                               extension_number=100)
    resps = r.ask({"file_containing_symbol": "musicfs.v1.NoSuchThing"},
                  {"file_by_filename": "nosuch.proto"},
                  {"file_containing_symbol": "musicfs.v1.TaskState."
                                             "TASK_STATE_RUNNING"},
                  {"file_containing_extension": ext},
                  {"all_extension_numbers_of_type":
                   "musicfs.v1.GetStatusRequest"},
                  {"list_services": ""})
    codes = [a.error_response.error_code for a in resps[:5]]
    assert codes == [NOT_FOUND] * 3 + [UNIMPLEMENTED] * 2
    assert "musicfs.v1.NoSuchThing" in resps[0].error_response.error_message
    assert len(resps[5].list_services_response.service) == len(SERVICES)


def test_garbage_request_is_invalid_argument(daemon):
    """Bytes that are no ServerReflectionRequest end the call with
    INVALID_ARGUMENT; the server goes on answering."""
    with grpc.insecure_channel(daemon["unix"]) as ch:
        call = ch.stream_stream(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as err:
            list(call(iter([b"\x0a\xff"]), timeout=10))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        # an empty stream: no request, no response, status OK
        assert list(call(iter([]), timeout=10)) == []
