"""/api/v1/bot: intents and example phrases (admins), model versions, settings, a classify probe,
where the bot talks (per channel), and the bot's part of a ticket."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response

from opora.auth.deps import Admin, CurrentPrincipal, Uow
from opora.bot import channels, repository, service
from opora.bot.schemas import (
    ChannelBotIn,
    ChannelBotOut,
    ClassifyIn,
    ConversationOut,
    ExampleIn,
    ExampleOut,
    IntentCreate,
    IntentOut,
    IntentUpdate,
    ModelOut,
    PredictionOut,
    SettingsIn,
    SettingsOut,
    StarterIn,
    TrainIn,
    TrainOut,
)
from opora.channels import repository as channels_repo
from opora.kit.errors import InvalidInput, NotFound
from opora.kit.schema import Language
from opora.tickets.service import visible_ticket

router = APIRouter(prefix="/api/v1/bot", tags=["bot"])


def _language(value: str) -> str:
    if value not in ("ru", "en"):
        raise InvalidInput("language must be ru or en.", field="language")
    return value


@router.get("/intents")
async def list_intents(
    uow: Uow, _principal: CurrentPrincipal, language: Language | None = None
) -> list[IntentOut]:
    return await service.intent_out(uow, await repository.list_intents(uow.session, language))


@router.post("/intents", status_code=201)
async def create_intent(data: IntentCreate, uow: Uow, _admin: Admin) -> IntentOut:
    return (await service.intent_out(uow, [await service.create_intent(uow, data)]))[0]


@router.get("/intents/{intent_id}")
async def get_intent(intent_id: int, uow: Uow, _principal: CurrentPrincipal) -> IntentOut:
    return (await service.intent_out(uow, [await service.get_intent(uow, intent_id)]))[0]


@router.patch("/intents/{intent_id}")
async def update_intent(intent_id: int, data: IntentUpdate, uow: Uow, _admin: Admin) -> IntentOut:
    return (await service.intent_out(uow, [await service.update_intent(uow, intent_id, data)]))[0]


@router.delete("/intents/{intent_id}", status_code=204, response_class=Response)
async def delete_intent(intent_id: int, uow: Uow, _admin: Admin) -> Response:
    await service.delete_intent(uow, intent_id)
    return Response(status_code=204)


@router.post("/intents/{intent_id}/examples", status_code=201)
async def add_example(intent_id: int, data: ExampleIn, uow: Uow, _admin: Admin) -> ExampleOut:
    return ExampleOut.model_validate(await service.add_example(uow, intent_id, data.text))


@router.delete("/examples/{example_id}", status_code=204, response_class=Response)
async def delete_example(example_id: int, uow: Uow, _admin: Admin) -> Response:
    await service.delete_example(uow, example_id)
    return Response(status_code=204)


@router.post("/starter", status_code=201)
async def load_starter(data: StarterIn, uow: Uow, _admin: Admin) -> list[IntentOut]:
    return await service.intent_out(uow, await service.load_starter(uow, data.language))


@router.get("/settings/{language}")
async def get_settings(language: str, uow: Uow, _principal: CurrentPrincipal) -> SettingsOut:
    return SettingsOut.model_validate(await service.get_settings(uow, _language(language)))


@router.put("/settings/{language}")
async def put_settings(language: str, data: SettingsIn, uow: Uow, _admin: Admin) -> SettingsOut:
    return SettingsOut.model_validate(
        await service.set_settings(uow, _language(language), data.max_wrong_rate)
    )


@router.get("/models")
async def list_models(
    uow: Uow,
    _principal: CurrentPrincipal,
    language: Language | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[ModelOut]:
    return [ModelOut.model_validate(m) for m in await repository.list_models(uow.session, language, limit)]


@router.post("/models/train", status_code=202)
async def train(data: TrainIn, uow: Uow, _admin: Admin) -> TrainOut:
    queued = await service.schedule_training(uow, data.language, delay=timedelta(0))
    return TrainOut(language=data.language, queued=queued)


@router.post("/models/{model_id}/activate")
async def activate(model_id: int, uow: Uow, _admin: Admin) -> ModelOut:
    return ModelOut.model_validate(await service.activate(uow, model_id))


@router.post("/classify")
async def classify(data: ClassifyIn, uow: Uow, _principal: CurrentPrincipal) -> PredictionOut:
    p = await service.classify(uow, data.text, data.language)
    return PredictionOut(
        intent=p.intent,
        confidence=p.confidence,
        abstained=p.abstained,
        out_of_scope=p.out_of_scope,
        model_version=p.model_version,
        threshold=p.threshold,
        alternatives=list(p.alternatives),
    )


def _channel_out(bot: channels.ChannelBot) -> ChannelBotOut:
    return ChannelBotOut(
        channel_id=bot.channel_id,
        channel_type=bot.channel_type,
        channel_name=bot.channel_name,
        supported=bot.supported,
        enabled=bot.enabled,
        languages=list(bot.languages),
        default=bot.default,
    )


@router.get("/channels")
async def list_channel_bots(uow: Uow, _admin: Admin) -> list[ChannelBotOut]:
    """Every channel with whether the bot talks there (stored, or the type's default)."""
    rows = await channels_repo.list_channels(uow.session, limit=1000)
    return [_channel_out(b) for b in await channels.for_channels(uow, rows)]


@router.get("/channels/{channel_id}")
async def get_channel_bot(channel_id: int, uow: Uow, _admin: Admin) -> ChannelBotOut:
    return _channel_out(await channels.get(uow, channel_id))


@router.put("/channels/{channel_id}")
async def put_channel_bot(channel_id: int, data: ChannelBotIn, uow: Uow, _admin: Admin) -> ChannelBotOut:
    """Turn the bot on or off on a channel (email and forms only when an admin says so)."""
    return _channel_out(await channels.put(uow, channel_id, enabled=data.enabled, languages=data.languages))


@router.get("/conversations/{ticket_id}")
async def get_conversation(ticket_id: int, uow: Uow, principal: CurrentPrincipal) -> ConversationOut:
    """The bot's part of a ticket: status, step, detected intent and confidence."""
    await visible_ticket(uow, principal, ticket_id)
    conv = await repository.conversation(uow.session, ticket_id, lock=False)
    if conv is None:
        raise NotFound(f"The bot did not talk on ticket {ticket_id}.")
    return ConversationOut.model_validate(conv)
