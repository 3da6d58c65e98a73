"""The Redis nodes: clients, the scripts they run, and fan-out with a bounded wait.

Every node is an independent master. A call goes to each of them (see pool.py: inline
while a node is healthy, on a shared pool while it is suspect of hanging); the caller
decides from the replies whether a majority agreed. Our own Lua scripts are sent to all
healthy nodes before any reply is read, so they cost one round trip, not one per node.
A node that is down answers with an error at once; a hung one costs at most the socket
timeout, and nothing once it is suspect, because a fan-out returns as soon as its
answer is decided.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import select
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.connection import Connection, UnixDomainSocketConnection
from redis.exceptions import NoScriptError
from redis.retry import Retry

from .pool import call_node, number_nodes, suspect, watched

LUA_SCRIPTS = (
    "reserve",
    "unreserve",
    "sync",
    "fence_floor",
    "peek",
    "hold",
    "unhold",
    "held",
    "release",
    "take",
    "unwait",
    "seen",
)


class NodeClient(redis.Redis):
    """A node's client whose hash is the same in every process.

    pottery keeps the nodes in a frozenset and asks them in its iteration order; with
    the default identity hash every process would ask them in a different order, and
    contenders for one lock would each win a different node (a split vote, nobody
    wins). Hashing by address gives every process the same order."""

    def __hash__(self) -> int:
        kwargs = self.connection_pool.connection_kwargs
        return zlib.crc32(f"{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db')}".encode())

    def __eq__(self, other: object) -> bool:
        return self is other


class NodePool(redis.ConnectionPool):
    """redis-py's connection pool with a cheaper check of each connection it hands out.

    Before every command redis-py makes sure a pooled connection has nothing waiting to
    be read (a reply nobody read, or the server closing it): it switches the socket to
    non-blocking, tries a read that fails with an exception, and switches it back, three
    system calls. A stock step makes up to thirteen node calls, a sold-out answer two.
    ``poll`` with no wait answers the same question in one call. What happens when the
    answer is yes is redis-py's own: the connection is dropped and made again. TLS
    connections keep redis-py's check (decrypted bytes can wait inside the TLS layer,
    where ``poll`` cannot see them)."""

    def get_connection(self, *_args: Any, **_options: Any) -> Connection:
        self._checkpid()  # type: ignore[attr-defined]
        with self._lock:  # type: ignore[attr-defined]
            try:
                connection = self._available_connections.pop()  # type: ignore[attr-defined]
            except IndexError:
                connection = self.make_connection()
            self._in_use_connections.add(connection)  # type: ignore[attr-defined]
        try:
            connection.connect()
            if _has_data(connection):
                connection.disconnect()
                connection.connect()
                if _has_data(connection):
                    raise redis.ConnectionError("Connection not ready")
        except BaseException:
            self.release(connection)
            raise
        return connection  # type: ignore[no-any-return]


def _has_data(connection: Any) -> bool:
    """Whether a connection just taken from the pool has something to read (or was
    closed by the server, which reads as an end of file)."""
    if type(connection) not in (Connection, UnixDomainSocketConnection):
        return bool(connection.can_read())
    poller = select.poll()
    poller.register(connection._sock, select.POLLIN)
    return bool(poller.poll(0))


def connect(urls: Iterable[str], *, socket_timeout: float, connect_timeout: float) -> list[redis.Redis]:
    """One client per node. No client-side retries: a dead node must fail fast."""
    clients: list[redis.Redis] = []
    for url in urls:
        pool = NodePool.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
            health_check_interval=0,
            max_connections=256,
        )
        client = NodeClient(connection_pool=pool)
        client.auto_close_connection_pool = True  # type: ignore[attr-defined]  # as Redis.from_url does: close() closes the pool
        clients.append(client)
    return clients


@dataclass(frozen=True)
class Reply:
    """One node's answer to a fan-out: a value, or the error it raised."""

    node: int
    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class NodeTimeout(redis.TimeoutError):
    """The node did not answer within the fan-out's wait."""


def script_command(
    script: Script, keys: Sequence[Any], args: Sequence[Any]
) -> tuple[tuple[Any, ...], Callable[[redis.Redis], Any]]:
    """``script`` with these keys and arguments, as a command to send with others
    (:meth:`NodeSet.send_many`) and as the call that runs it on one node through
    redis-py (which loads the script where a node lost it)."""
    command = ("EVALSHA", script.sha, len(keys), *keys, *args)  # type: ignore[attr-defined]
    return command, lambda client: script(keys=keys, args=args, client=client)


def _read_reply(client: redis.Redis, connection: Any, failed: BaseException | None, command: str) -> Any:
    """Read the reply to ``command``, already sent on ``connection`` (or raise the error
    that sending it met), then give the connection back to the client's pool; a
    connection that broke is closed first, as redis-py does."""
    (value,) = _read_replies(client, connection, failed, [(command,)])
    if isinstance(value, redis.ResponseError):
        raise value
    return value


def _read_replies(
    client: redis.Redis, connection: Any, failed: BaseException | None, commands: Sequence[Sequence[Any]]
) -> list[Any]:
    """Read the replies to ``commands``, pipelined on ``connection`` (or raise the error
    that sending them met), then give the connection back to the client's pool; a
    connection that broke is closed first, as redis-py does. An error reply takes its
    command's place in the list."""
    try:
        if failed is not None:
            raise failed
        values: list[Any] = []
        for command in commands:
            try:
                values.append(client.parse_response(connection, command[0]))
            except redis.ResponseError as error:
                values.append(error)
        return values
    except (redis.ConnectionError, redis.TimeoutError):
        if connection is not None:
            connection.disconnect()
        raise
    finally:
        if connection is not None:
            client.connection_pool.release(connection)


def _reply(index: int, future: concurrent.futures.Future[Any]) -> Reply:
    try:
        return Reply(index, value=future.result())
    except Exception as error:  # noqa: BLE001 - every node error is data here
        return Reply(index, error=error)


class NodeSet:
    def __init__(self, clients: Sequence[redis.Redis], *, wait: float) -> None:
        if len(clients) < 3 or len(clients) % 2 == 0:
            raise ValueError("needs an odd number of at least 3 Redis nodes")
        self.clients = list(clients)
        self.quorum = len(self.clients) // 2 + 1
        number_nodes(self.clients)
        self.wait = wait
        self._turns = itertools.count()
        self.scripts: dict[str, Script] = {
            name: self.clients[0].register_script(
                resources.files("cardshop.stock").joinpath(f"lua/{name}.lua").read_text()
            )
            for name in LUA_SCRIPTS
        }

    def __len__(self) -> int:
        return len(self.clients)

    def run_script(
        self,
        name: str | Script,
        keys: Sequence[Any],
        args: Sequence[Any],
        *,
        decided: Callable[[list[Reply]], bool] | None = None,
        grace: float = 0.0,
        read: bool = False,
    ) -> list[Reply]:
        """Run a Lua script on every node, with :meth:`fanout`'s contract: one of ours
        by name, or any registered :class:`Script` (pottery's, say).

        The healthy nodes are sent the script all at once and then read one after
        another on the calling thread (:meth:`_overlapped`): one round trip for all of
        them rather than one per node, and one wait for the GIL rather than three. A
        read with ``decided`` goes to a majority first, and to the others only if that
        majority does not decide. Suspect nodes are still called on the shared pool."""
        script = self.scripts[name] if isinstance(name, str) else name

        def call(client: redis.Redis) -> Any:
            return script(keys=keys, args=args, client=client)

        command = ("EVALSHA", script.sha, len(keys), *keys, *args)  # type: ignore[attr-defined]
        if read and decided is not None:
            order = self._read_order()
            first = order[: self.quorum]
            if any(suspect(self.clients[index]) for index in first):
                return self._read_majority(call, decided, order, {})
            replies = self._overlapped(command, call, first)
            if decided(list(replies.values())):
                return self._in_order(replies, "not asked")
            return self._read_majority(call, decided, order, replies)
        return self.send_all(command, call, decided=decided, grace=grace)

    def send_all(
        self,
        command: Sequence[Any],
        call: Callable[[redis.Redis], Any],
        *,
        decided: Callable[[list[Reply]], bool] | None = None,
        grace: float = 0.0,
    ) -> list[Reply]:
        """Send one command to every node, with :meth:`fanout`'s contract.

        ``command`` (name and arguments, as sent) goes to every healthy node before any
        reply is read (:meth:`_overlapped`); a suspect node is called with ``call(client)``
        on the shared pool instead, and so is a node that lost a script ``command`` runs."""
        suspects = [index for index, client in enumerate(self.clients) if suspect(client)]
        pending = {call_node(self.clients[index], call, self.clients[index]): index for index in suspects}
        healthy = [index for index in range(len(self.clients)) if index not in suspects]
        return self._collect(pending, self._overlapped(command, call, healthy), decided, grace)

    def send_many(
        self,
        commands: Sequence[Sequence[Any]],
        calls: Sequence[Callable[[redis.Redis], Any]],
        *,
        grace: float = 0.0,
    ) -> list[list[Reply]]:
        """Send several commands to every node in one round trip; for each command, every
        node's reply in node order (``result[i]`` is command ``i``'s :meth:`fanout`-style
        list). The commands go to each healthy node as one pipelined write before any
        reply is read, so k commands cost one wait for the nodes, not k. ``calls[i]``
        runs command ``i`` through redis-py, for a suspect node (on the shared pool) and
        for a script a node lost. Returns once a majority of nodes answered everything:
        a suspect node that has not answered by then is reported as NodeTimeout, which
        callers read as a refusal (a lock not won, a token not applied), unless it
        answers within ``grace`` seconds more (a straggler whose answer shows it needs
        repair, as in :meth:`fanout`)."""
        suspects = [index for index, client in enumerate(self.clients) if suspect(client)]

        def each(client: redis.Redis) -> list[Any]:
            results: list[Any] = []
            for call in calls:
                try:
                    results.append(call(client))
                except redis.ResponseError as error:
                    results.append(error)
            return results

        pending = {call_node(self.clients[index], each, self.clients[index]): index for index in suspects}
        healthy = [index for index in range(len(self.clients)) if index not in suspects]
        answered = self._pipelined(commands, calls, healthy)
        quorum = self.quorum
        nodes = self._collect(pending, answered, lambda replies: sum(r.ok for r in replies) >= quorum, grace)
        return [
            [
                Reply(node.node, error=node.error)
                if not node.ok
                else (
                    Reply(node.node, error=node.value[i])
                    if isinstance(node.value[i], Exception)
                    else Reply(node.node, value=node.value[i])
                )
                for node in nodes
            ]
            for i in range(len(commands))
        ]

    def _pipelined(
        self, commands: Sequence[Sequence[Any]], calls: Sequence[Callable[[redis.Redis], Any]], nodes: list[int]
    ) -> dict[int, Reply]:
        """:meth:`_overlapped` for several commands: each node's reply is the list of its
        answers, an error reply (a :class:`redis.ResponseError`) in place of its answer."""
        replies: dict[int, Reply] = {}
        for index, connection, failed in self._send(nodes, lambda c: c.send_packed_command(c.pack_commands(commands))):
            client = self.clients[index]
            try:
                values = watched(client, _read_replies, client, connection, failed, commands)
            except Exception as error:  # noqa: BLE001 - every node error is data here
                replies[index] = Reply(index, error=error)
                continue
            for i, value in enumerate(values):
                if isinstance(value, NoScriptError):  # the node restarted empty: load and run it
                    try:
                        values[i] = call_node(client, calls[i], client).result()
                    except redis.ResponseError as error:
                        values[i] = error
                    except Exception as error:  # noqa: BLE001 - every node error is data here
                        replies[index] = Reply(index, error=error)
                        break
            else:
                replies[index] = Reply(index, value=values)
        return replies

    def fanout(
        self,
        call: Callable[[redis.Redis], Any],
        *,
        decided: Callable[[list[Reply]], bool] | None = None,
        grace: float = 0.0,
        read: bool = False,
    ) -> list[Reply]:
        """Call every node at once; return their replies in node order.

        Returns when every node has answered, when ``wait`` has passed, or when
        ``decided(replies_so_far)`` is true (then stragglers get ``grace`` seconds more).
        Nodes that did not answer in time are reported as :class:`NodeTimeout`.
        ``read``: the call changes nothing, so once ``decided`` holds the nodes not yet
        called are left alone (healthy nodes are called inline, one after another, so a
        majority that agrees costs a majority of calls, not all of them, and a node
        that timed out lately is asked last, so it costs nothing while the others
        agree); they are reported as :class:`NodeTimeout`.
        """
        if read and decided is not None:
            return self._read_majority(call, decided, self._read_order(), {})
        futures = {call_node(client, call, client): index for index, client in enumerate(self.clients)}
        return self._collect(futures, {}, decided, grace)

    def _collect(
        self,
        futures: dict[concurrent.futures.Future[Any], int],
        replies: dict[int, Reply],
        decided: Callable[[list[Reply]], bool] | None,
        grace: float,
    ) -> list[Reply]:
        """Add the answers of ``futures`` to ``replies`` until all are in, ``wait`` has
        passed, or ``decided`` holds (then stragglers get ``grace`` seconds more)."""
        expected = len(futures) + len(replies)

        def settled() -> bool:
            return decided is not None and len(replies) < expected and decided(list(replies.values()))

        try:
            if not (futures and settled()):
                for future in concurrent.futures.as_completed(futures, timeout=self.wait):
                    replies[futures[future]] = _reply(futures[future], future)
                    if settled():
                        break
        except concurrent.futures.TimeoutError:
            return self._in_order(replies, "no answer in time")
        late = [future for future, index in futures.items() if index not in replies]
        done, _ = concurrent.futures.wait(late, timeout=grace)
        for future in done:
            replies[futures[future]] = _reply(futures[future], future)
        return self._in_order(replies, "no answer in time")

    def _in_order(self, replies: dict[int, Reply], missing: str) -> list[Reply]:
        return [replies.get(index) or Reply(index, error=NodeTimeout(missing)) for index in range(len(self.clients))]

    def _overlapped(
        self, command: Sequence[Any], call: Callable[[redis.Redis], Any], nodes: list[int]
    ) -> dict[int, Reply]:
        """Send ``command`` to each of ``nodes``, then read their answers in turn.

        Every node's errors are handled as in any node call (:func:`pool.call_node`):
        counted, a timeout makes the node suspect, a broken connection is dropped. A
        node that lost its scripts (it restarted empty) is called again with ``call``,
        which for a script loads it first."""
        replies: dict[int, Reply] = {}
        for index, connection, failed in self._send(nodes, lambda connection: connection.send_command(*command)):
            client = self.clients[index]
            try:  # inline, as call_node runs a healthy node's call, without a Future around it
                value = watched(client, _read_reply, client, connection, failed, command[0])
                replies[index] = Reply(index, value=value)
            except NoScriptError:
                replies[index] = _reply(index, call_node(client, call, client))
            except Exception as error:  # noqa: BLE001 - every node error is data here
                replies[index] = Reply(index, error=error)
        return replies

    def _send(self, nodes: list[int], write: Callable[[Any], None]) -> list[tuple[int, Any, BaseException | None]]:
        """``write`` on a connection of each of ``nodes`` (connected if need be), before any
        reply is read: each node's connection, and the error that sending met, if any."""
        sent: list[tuple[int, Any, BaseException | None]] = []
        for index in nodes:
            connection = None
            try:
                connection = self.clients[index].connection_pool.get_connection()
                write(connection)
                sent.append((index, connection, None))
            except redis.RedisError as error:
                sent.append((index, connection, error))
        return sent

    def _read_order(self) -> list[int]:
        """The order a majority read asks the nodes in: each read starts one node
        further (spreading the reads), and suspect nodes come last."""
        count = len(self.clients)
        start = next(self._turns) % count
        rotated = [(start + step) % count for step in range(count)]
        return sorted(rotated, key=lambda index: suspect(self.clients[index]))

    def _read_majority(
        self,
        call: Callable[[redis.Redis], Any],
        decided: Callable[[list[Reply]], bool],
        order: list[int],
        replies: dict[int, Reply],
    ) -> list[Reply]:
        """Ask the nodes in ``order`` that are not in ``replies`` yet, one after
        another, until ``decided`` holds."""
        order = [index for index in order if index not in replies]
        for position, index in enumerate(order):
            future = call_node(self.clients[index], call, self.clients[index])
            if not future.done():  # a suspect node, called on the pool: ask the rest at once
                rest = {future: index}
                rest.update({call_node(self.clients[i], call, self.clients[i]): i for i in order[position + 1 :]})
                with contextlib.suppress(concurrent.futures.TimeoutError):
                    for late in concurrent.futures.as_completed(rest, timeout=self.wait):
                        replies[rest[late]] = _reply(rest[late], late)
                        if decided(list(replies.values())):
                            break
                break
            replies[index] = _reply(index, future)
            if decided(list(replies.values())):
                break
        return self._in_order(replies, "not asked")

    def ping(self) -> list[Reply]:
        return self.fanout(lambda client: client.ping())

    def close(self) -> None:
        for client in self.clients:
            client.close()
