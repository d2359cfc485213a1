#!/usr/bin/env escript
%%! +sbwt none
%% Erlang/OTP baseline for `clean-service bench mailbox`: the same two
%% measurements, so scripts/bench can put them side by side in one run.
%%
%%   escript bench/baselines/mailbox.escript fanin SENDERS MESSAGES
%%   escript bench/baselines/mailbox.escript call CALLS
%%
%% fanin: SENDERS processes send MESSAGES messages in all (split evenly) to
%% one receiver, which counts them; prints "msgs_per_sec=N".
%% call: one client makes CALLS gen_server:call round trips to a gen_server;
%% prints "calls_per_sec=N".
-mode(compile).
-behaviour(gen_server).
-export([init/1, handle_call/3, handle_cast/2]).

main(["fanin", Senders, Messages]) ->
    fanin(list_to_integer(Senders), list_to_integer(Messages));
main(["call", Calls]) ->
    call(list_to_integer(Calls));
main(_) ->
    io:format(standard_error, "usage: mailbox.escript fanin SENDERS MESSAGES | call CALLS~n", []),
    halt(2).

fanin(Senders, Messages) ->
    PerSender = Messages div Senders,
    Total = PerSender * Senders,
    Self = self(),
    Receiver = spawn(fun() -> receive go -> ok end, count(Total, Self) end),
    Start = erlang:monotonic_time(),
    [spawn(fun() -> send_n(Receiver, PerSender) end) || _ <- lists:seq(1, Senders)],
    Receiver ! go,
    receive done -> ok end,
    report("msgs_per_sec", Total, Start).

send_n(_, 0) -> ok;
send_n(To, N) -> To ! {msg, N}, send_n(To, N - 1).

count(0, Parent) -> Parent ! done;
count(N, Parent) -> receive {msg, _} -> count(N - 1, Parent) end.

call(Calls) ->
    {ok, Server} = gen_server:start(?MODULE, [], []),
    Start = erlang:monotonic_time(),
    call_n(Server, Calls),
    report("calls_per_sec", Calls, Start).

call_n(_, 0) -> ok;
call_n(Server, N) -> N = gen_server:call(Server, N), call_n(Server, N - 1).

report(Name, Count, Start) ->
    Seconds = erlang:convert_time_unit(erlang:monotonic_time() - Start, native, microsecond) / 1.0e6,
    io:format("~s=~B seconds=~.3f~n", [Name, round(Count / Seconds), Seconds]).

%% The gen_server: answers each call with its argument.
init([]) -> {ok, nostate}.
handle_call(N, _From, State) -> {reply, N, State}.
handle_cast(_, State) -> {noreply, State}.
