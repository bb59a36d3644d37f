"""What flows and services speak instead of any SDK's types (DESIGN.md principle 1).

A channel adapter turns a platform update into an :class:`IncomingMessage` and an outbox row's
payload (:meth:`OutgoingMessage.to_payload`) into a platform call; nothing else crosses.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Attachment:
    kind: str  # photo, document, voice, video, audio, sticker
    file_id: str
    size: int | None = None
    mime: str | None = None
    name: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file_id": self.file_id,
            "size": self.size,
            "mime": self.mime,
            "name": self.name,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Attachment:
        size = data.get("size")
        return cls(
            kind=str(data["kind"]),
            file_id=str(data["file_id"]),
            size=None if size is None else int(size),
            mime=data.get("mime"),
            name=data.get("name"),
        )


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    channel: str
    chat_id: str
    user_id: str
    update_id: str  # the platform's id of this delivery: redeliveries carry the same one
    text: str = ""
    command: str | None = None  # "start", "cancel" … (without the slash)
    callback: str | None = None  # data of a pressed button
    contact_phone: str | None = None  # a shared contact card's number ...
    # ... and the platform user it belongs to: None for a card of someone who is no user of
    # the platform (a phone-book entry). Only a card of the sender is the sender's number.
    contact_user_id: str | None = None
    attachments: tuple[Attachment, ...] = ()
    language: str | None = None  # the platform's language code, e.g. zh-hans, zh-hk, en-US
    display_name: str | None = None
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    data: str


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A message to queue once another one is delivered (or has failed for good): the staff
    thread learns when a reply reached the customer. A card field that is exactly ``{at}``
    or ``{error}`` is filled in then (the time, the reason); nothing else is touched."""

    channel: str
    recipient: str
    message: OutgoingMessage

    def filled(self, *, at: str, error: str) -> OutgoingMessage:
        """The message with its placeholders filled: only a text or card field that *is*
        ``{at}`` or ``{error}`` — staff or customer words that happen to contain "{at}" stay
        as written."""
        values = {"{at}": at, "{error}": error}

        def fill(value: Any) -> Any:
            return values.get(value, value) if isinstance(value, str) else value

        message = self.message
        card = None if message.card is None else {k: fill(v) for k, v in message.card.items()}
        return replace(message, text=fill(message.text), card=card)

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "recipient": self.recipient,
            "payload": self.message.to_payload(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FollowUp:
        return cls(
            str(data["channel"]),
            str(data["recipient"]),
            OutgoingMessage.from_payload(data["payload"]),
        )


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    request_contact: str | None = None  # label of a "share my phone number" key
    remove_keyboard: bool = False
    # Named messages (staff channels): ``ref`` names this one once sent; ``edit`` replaces the
    # message of that name (sent afresh if it is unknown); ``thread`` answers in its thread.
    ref: str | None = None
    edit: str | None = None
    thread: str | None = None
    card: dict[str, Any] | None = None  # a case card, drawn by the channel (Slack: Block Kit)
    files: tuple[Attachment, ...] = ()  # evidence to relay ...
    files_from: str | None = None  # ... from this channel, where the file ids belong
    on_sent: FollowUp | None = None
    on_failed: FollowUp | None = None
    # Filled in by the outbox just before sending, never stored: the platform's ids of the
    # messages named by ``edit`` and ``thread``.
    edit_id: str | None = None
    thread_id: str | None = None

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "text": self.text,
            "buttons": [[{"label": b.label, "data": b.data} for b in row] for row in self.buttons],
            "request_contact": self.request_contact,
            "remove_keyboard": self.remove_keyboard,
        }
        optional = {
            "ref": self.ref,
            "edit": self.edit,
            "thread": self.thread,
            "card": self.card,
            "files": [f.to_json() for f in self.files] or None,
            "files_from": self.files_from,
            "on_sent": self.on_sent.to_json() if self.on_sent else None,
            "on_failed": self.on_failed.to_json() if self.on_failed else None,
        }
        payload.update({k: v for k, v in optional.items() if v is not None})
        return payload

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> OutgoingMessage:
        """Raises on a payload of another shape (every version writes ``text``): the outbox
        must not send such a row as an empty message."""
        on_sent, on_failed = payload.get("on_sent"), payload.get("on_failed")
        return cls(
            text=str(payload["text"]),
            buttons=tuple(
                tuple(Button(str(b["label"]), str(b["data"])) for b in row)
                for row in payload.get("buttons") or ()
            ),
            request_contact=payload.get("request_contact"),
            remove_keyboard=bool(payload.get("remove_keyboard", False)),
            ref=payload.get("ref"),
            edit=payload.get("edit"),
            thread=payload.get("thread"),
            card=payload.get("card"),
            files=tuple(Attachment.from_json(f) for f in payload.get("files") or ()),
            files_from=payload.get("files_from"),
            on_sent=FollowUp.from_json(on_sent) if on_sent else None,
            on_failed=FollowUp.from_json(on_failed) if on_failed else None,
        )
