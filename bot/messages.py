"""What flows and services speak instead of any SDK's types (DESIGN.md principle 1).

A channel adapter turns a platform update into an :class:`IncomingMessage` and an outbox row's
payload (:meth:`OutgoingMessage.to_payload`) into a platform call; nothing else crosses.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    contact_phone: str | None = None  # a shared contact
    attachments: tuple[Attachment, ...] = ()
    language: str | None = None  # the platform's language code, e.g. zh-hans, zh-hk, en-US
    display_name: str | None = None
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    data: str


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    request_contact: str | None = None  # label of a "share my phone number" key
    remove_keyboard: bool = False

    def to_payload(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "buttons": [[{"label": b.label, "data": b.data} for b in row] for row in self.buttons],
            "request_contact": self.request_contact,
            "remove_keyboard": self.remove_keyboard,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> OutgoingMessage:
        return cls(
            text=str(payload.get("text", "")),
            buttons=tuple(
                tuple(Button(str(b["label"]), str(b["data"])) for b in row)
                for row in payload.get("buttons") or ()
            ),
            request_contact=payload.get("request_contact"),
            remove_keyboard=bool(payload.get("remove_keyboard", False)),
        )
