"""A channel that records what the router asks it to deliver, instead of delivering it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

from bot.channels.kinds import ChannelKind
from bot.channels.messages import OutboundMessage
from bot.channels.twilio import SMS
from bot.channels.whatsapp import WHATSAPP
from bot.web.webchat import WEB


@dataclass(frozen=True)
class Delivery:
    """One reply handed to the channel."""

    conversation_id: int
    external_id: str
    author: str
    text: str


@dataclass(frozen=True)
class OwnerNotice:
    """One "staff joined" / "back to the bot" notice handed to the channel."""

    conversation_id: int
    external_id: str
    owner: str
    notice: str


@dataclass
class RecordingDeliverer:
    """A channel of `kind` that records every reply and owner notice; with `fail` set, `send` raises
    as a channel that is down. Deliverers sharing one record pass the same `deliveries` and
    `owner_notices` lists."""

    kind: ChannelKind = WEB
    deliveries: List[Delivery] = field(default_factory=list)
    owner_notices: List[OwnerNotice] = field(default_factory=list)
    fail: bool = False

    async def send(self, conversation, replies: Sequence[OutboundMessage], author: str) -> None:
        """Record each reply (RuntimeError instead when `fail` is set)."""
        if self.fail:
            raise RuntimeError("channel down")
        self.deliveries.extend(Delivery(conversation.id, conversation.external_id, author, reply.text)
                               for reply in replies)

    async def notify_owner(self, conversation, owner: str, notice: str) -> None:
        """Record the notice."""
        self.owner_notices.append(OwnerNotice(conversation.id, conversation.external_id, owner, notice))

    @property
    def sent(self) -> List[Tuple[str, str, str]]:
        """(external id, author, text) of every reply, in order."""
        return [(d.external_id, d.author, d.text) for d in self.deliveries]

    @property
    def notices(self) -> List[Tuple[str, str]]:
        """(external id, owner) of every owner notice, in order."""
        return [(n.external_id, n.owner) for n in self.owner_notices]

    def texts(self) -> List[str]:
        """The text of every reply, in order."""
        return [d.text for d in self.deliveries]

    def sent_by_id(self) -> List[Tuple[int, str, str]]:
        """(conversation id, author, text) of every reply, in order."""
        return [(d.conversation_id, d.author, d.text) for d in self.deliveries]

    def notices_by_id(self) -> List[Tuple[int, str]]:
        """(conversation id, owner) of every owner notice, in order."""
        return [(n.conversation_id, n.owner) for n in self.owner_notices]


def recording_deliverers() -> Dict[str, RecordingDeliverer]:
    """One recording deliverer per channel, by the channel's name."""
    return {kind.name: RecordingDeliverer(kind) for kind in (WEB, SMS, WHATSAPP)}
