"""The routing choice as pure functions: no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from opora.routing.decide import (
    AgentState,
    Policy,
    Skills,
    TeamPolicy,
    TicketState,
    capacity_for,
    choose,
    has_room,
    needs,
    plan,
    serve_order,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LEAST = TeamPolicy(Policy.LEAST_LOADED, timedelta(seconds=120))
RR = TeamPolicy(Policy.ROUND_ROBIN, timedelta(seconds=120))


def agent(
    id_: int,
    *,
    presence: str = "online",
    load: dict[str, int] | None = None,
    capacity: dict[str, int] | None = None,
    default: int = 10,
    skills: Skills | None = None,
) -> AgentState:
    return AgentState(id_, presence, capacity or {}, default, load or {}, skills or Skills())


def ticket(
    id_: int = 1,
    *,
    channel: str = "chat",
    age: int = 0,
    priority: str = "normal",
    topic: str | None = None,
    language: str | None = None,
    vip: bool = False,
) -> TicketState:
    created = NOW - timedelta(seconds=age)
    return TicketState(id_, channel, priority, topic, language, vip, created, created)


def test_least_loaded_takes_the_agent_with_the_fewest_open_tickets() -> None:
    agents = [agent(1, load={"chat": 3}), agent(2, load={"chat": 1}), agent(3, load={"chat": 2})]
    assert choose(ticket(), agents, LEAST, NOW).agent_id == 2


def test_load_is_weighted_by_channel() -> None:
    # Two e-mails weigh less than one chat when a chat counts four times.
    agents = [agent(1, load={"chat": 1}), agent(2, load={"email": 2})]
    weighted = TeamPolicy(Policy.LEAST_LOADED, timedelta(0), {"chat": 4.0, "email": 1.0})
    assert choose(ticket(channel="email"), agents, weighted, NOW).agent_id == 2
    assert choose(ticket(channel="email"), agents, LEAST, NOW).agent_id == 1


def test_offline_away_and_full_agents_get_nothing() -> None:
    agents = [
        agent(1, presence="offline"),
        agent(2, presence="away"),
        agent(3, load={"chat": 5}, capacity={"chat": 5}),
    ]
    assert choose(ticket(), agents, LEAST, NOW).agent_id is None
    # Capacity is per channel: the full chat agent still takes an e-mail.
    assert choose(ticket(channel="email"), agents, LEAST, NOW).agent_id == 3


def test_capacity_falls_back_to_the_default() -> None:
    a = agent(1, capacity={"chat": 5}, default=20, load={"email": 19})
    assert capacity_for(a, "chat") == 5 and capacity_for(a, "email") == 20
    assert has_room(a, "email")
    assert not has_room(agent(1, capacity={"chat": 0}), "chat")


def test_round_robin_goes_around_in_id_order_skipping_busy_agents() -> None:
    agents = [agent(1), agent(2, load={"chat": 1}, capacity={"chat": 1}), agent(3), agent(4, presence="away")]
    picks = []
    pointer = None
    for _ in range(4):
        chosen = choose(ticket(), agents, TeamPolicy(Policy.ROUND_ROBIN, timedelta(0), {}, pointer), NOW)
        picks.append(chosen.agent_id)
        pointer = chosen.agent_id
    assert picks == [1, 3, 1, 3]


def test_manual_never_assigns() -> None:
    assert choose(ticket(), [agent(1)], TeamPolicy(Policy.MANUAL), NOW).agent_id is None
    assert plan([ticket()], [agent(1)], TeamPolicy(Policy.MANUAL), NOW).assignments == []


def test_skills_first_then_anyone_after_the_fallback_wait() -> None:
    english = agent(1, skills=Skills(languages=frozenset({"en"})), load={"chat": 2})
    generalist = agent(2)
    team = [english, generalist]
    fresh = ticket(language="EN", age=10)
    assert needs(fresh, team) == [("language", "en")]
    # The skilled agent wins although busier.
    assert choose(fresh, team, LEAST, NOW).agent_id == 1
    busy_english = agent(1, skills=Skills(languages=frozenset({"en"})), presence="away")
    waiting = choose(fresh, [busy_english, generalist], LEAST, NOW)
    assert waiting.agent_id is None and waiting.retry_at == NOW - timedelta(seconds=10) + timedelta(
        seconds=120
    )
    late = ticket(language="en", age=121)
    assert choose(late, [busy_english, generalist], LEAST, NOW).agent_id == 2


def test_a_need_nobody_declares_does_not_hold_the_ticket_back() -> None:
    team = [agent(1, skills=Skills(languages=frozenset({"en"}))), agent(2)]
    russian = ticket(language="ru", topic="delivery")
    assert needs(russian, team) == []
    assert choose(russian, team, LEAST, NOW).agent_id == 1  # equal load: first after the pointer


def test_every_declared_skill_must_match_topic_channel_and_vip() -> None:
    vip_chat = agent(1, skills=Skills(channels=frozenset({"chat"}), vip=True), load={"chat": 4})
    chat_only = agent(2, skills=Skills(channels=frozenset({"chat"})), load={"chat": 1})
    refunds = agent(3, skills=Skills(topics=frozenset({"refund"})))
    team = [vip_chat, chat_only, refunds]
    assert choose(ticket(vip=True), team, LEAST, NOW).agent_id == 1
    assert choose(ticket(), team, LEAST, NOW).agent_id == 2
    assert choose(ticket(topic="Refund", channel="email"), team, LEAST, NOW).agent_id == 3
    # Needs refund and chat: nobody has both, so the ticket waits for the fallback.
    assert choose(ticket(topic="refund"), team, LEAST, NOW).agent_id is None


def test_zero_fallback_means_skills_only_break_ties() -> None:
    team = [agent(1, skills=Skills(languages=frozenset({"en"})), presence="offline"), agent(2)]
    instant = TeamPolicy(Policy.LEAST_LOADED, timedelta(0))
    assert choose(ticket(language="en"), team, instant, NOW).agent_id == 2


def test_queue_is_served_most_urgent_then_vip_then_oldest() -> None:
    tickets = [
        ticket(1, age=500),
        ticket(2, age=100, priority="urgent"),
        ticket(3, age=900, priority="low"),
        ticket(4, age=50, vip=True),
        ticket(5, age=600),
        ticket(6, age=10, priority="high"),
    ]
    assert [t.id for t in serve_order(tickets)] == [2, 6, 4, 5, 1, 3]


def test_plan_fills_capacity_and_leaves_the_rest_waiting() -> None:
    agents = [agent(1, capacity={"chat": 2}), agent(2, capacity={"chat": 1}, load={"chat": 1})]
    tickets = [ticket(i, age=100 - i) for i in range(1, 6)]
    result = plan(tickets, agents, LEAST, NOW)
    assert result.assignments == [(1, 1), (2, 1)]
    assert {a.id: dict(a.load) for a in result.agents} == {1: {"chat": 2}, 2: {"chat": 1}}
    assert result.last_assigned_id == 1


def test_plan_spreads_evenly_and_moves_the_round_robin_pointer() -> None:
    agents = [agent(i) for i in (1, 2, 3)]
    result = plan([ticket(i, age=10 - i) for i in range(6)], agents, RR, NOW)
    assert [a for _, a in result.assignments] == [1, 2, 3, 1, 2, 3]
    assert result.last_assigned_id == 3
    least = plan([ticket(i, age=10 - i) for i in range(6)], agents, LEAST, NOW)
    assert sorted(a for _, a in least.assignments) == [1, 1, 2, 2, 3, 3]


def test_plan_schedules_a_retry_for_tickets_waiting_on_skills() -> None:
    team = [agent(1, skills=Skills(topics=frozenset({"refund"})), presence="away"), agent(2)]
    result = plan([ticket(7, topic="refund", age=30), ticket(8, age=20)], team, LEAST, NOW)
    assert result.assignments == [(8, 2)]
    assert result.retries == [(7, NOW + timedelta(seconds=90))]


# --- properties ------------------------------------------------------------------------------

CHANNELS = ["chat", "email", "telegram"]
agents_strategy = st.lists(
    st.builds(
        agent,
        st.integers(1, 50),
        presence=st.sampled_from(["online", "away", "offline"]),
        load=st.dictionaries(st.sampled_from(CHANNELS), st.integers(0, 6)),
        capacity=st.dictionaries(st.sampled_from(CHANNELS), st.integers(0, 6)),
        default=st.integers(0, 6),
        skills=st.builds(
            Skills,
            topics=st.frozensets(st.sampled_from(["refund", "delivery"])),
            languages=st.frozensets(st.sampled_from(["ru", "en"])),
            channels=st.frozensets(st.sampled_from(CHANNELS)),
            vip=st.booleans(),
        ),
    ),
    max_size=8,
    unique_by=lambda a: a.id,
)
tickets_strategy = st.lists(
    st.builds(
        ticket,
        st.integers(1, 10_000),
        channel=st.sampled_from(CHANNELS),
        age=st.integers(0, 600),
        priority=st.sampled_from(["low", "normal", "high", "urgent"]),
        topic=st.sampled_from([None, "refund", "delivery"]),
        language=st.sampled_from([None, "ru", "en"]),
        vip=st.booleans(),
    ),
    max_size=30,
    unique_by=lambda t: t.id,
)
policies = st.builds(
    TeamPolicy,
    st.sampled_from([Policy.LEAST_LOADED, Policy.ROUND_ROBIN]),
    st.integers(0, 300).map(lambda s: timedelta(seconds=s)),
    st.dictionaries(st.sampled_from(CHANNELS), st.floats(0.1, 5)),
    st.one_of(st.none(), st.integers(1, 50)),
)


@settings(max_examples=300, deadline=None)
@given(agents_strategy, tickets_strategy, policies)
def test_never_offline_never_full_never_past_capacity(
    agents: list[AgentState], tickets: list[TicketState], team: TeamPolicy
) -> None:
    by_id = {a.id: a for a in agents}
    for t in tickets:
        chosen = choose(t, agents, team, NOW).agent_id
        if chosen is not None:
            assert by_id[chosen].presence == "online"
            assert has_room(by_id[chosen], t.channel)
    result = plan(tickets, agents, team, NOW)
    after = {a.id: a for a in result.agents}
    added: dict[tuple[int, str], int] = {}
    channel_of = {t.id: t.channel for t in tickets}
    for ticket_id, agent_id in result.assignments:
        key = (agent_id, channel_of[ticket_id])
        added[key] = added.get(key, 0) + 1
    for (agent_id, channel), count in added.items():
        before = by_id[agent_id]
        assert before.presence == "online"
        assert before.load.get(channel, 0) + count == after[agent_id].load[channel]
        assert after[agent_id].load[channel] <= capacity_for(before, channel)
    assert len({t for t, _ in result.assignments}) == len(result.assignments)


@settings(max_examples=200, deadline=None)
@given(agents_strategy, tickets_strategy, policies)
def test_a_free_skilled_agent_always_wins_over_the_rest(
    agents: list[AgentState], tickets: list[TicketState], team: TeamPolicy
) -> None:
    for t in tickets:
        wanted = needs(t, agents)
        skilled_free = [
            a
            for a in agents
            if has_room(a, t.channel)
            and all(
                (kind == "topic" and value in a.skills.topics)
                or (kind == "language" and value in a.skills.languages)
                or (kind == "channel" and value in a.skills.channels)
                or (kind == "vip" and a.skills.vip)
                for kind, value in wanted
            )
        ]
        chosen = choose(t, agents, team, NOW).agent_id
        if skilled_free:
            assert chosen in {a.id for a in skilled_free}
        elif not any(has_room(a, t.channel) for a in agents):
            assert chosen is None
