"""What a journalist hears (媒体问询, DOMAIN.md §5): no answer of substance, only who replies
and by when. Apart from ``texts.py`` to keep each file readable; merged into its tables there
(简体 is the source, 繁體 is converted from it)."""

from __future__ import annotations

MEDIA_ZH: dict[str, str] = {
    "media_received": (
        "您好,感谢您的关注。媒体问询由本公司{department}统一答复,您的问询已转交,"
        "{department}将在 {within}内({deadline}前)与您联系。问询编号:{number}。\n"
        "如需补充采访提纲或联系方式,可直接在此留言。"
    ),
    # The desk's later messages about a press enquiry: 问询, not 投诉, and no 已解决 buttons
    # (the department's answer is not a resolution for the journalist to confirm).
    "media_answered": (
        "关于您的问询 {number},答复如下:\n{resolution}\n如有进一步问题,可直接在此留言。"
    ),
    "media_escalated": "您的问询 {number} 已转由{level}跟进,我们会在 {due} 前给您答复。",
    "media_closed": "您的问询 {number} 已办结。如有新的问题,可直接在此留言。",
}

MEDIA_EN: dict[str, str] = {
    "media_received": (
        "Hello, and thank you for your interest. Press enquiries are answered by our "
        "{department}; yours has been passed on, and they will contact you within {within} "
        "(by {deadline}). Reference: {number}.\n"
        "You may add your questions or contact details here."
    ),
    "media_answered": (
        "About your enquiry {number}, our answer:\n{resolution}\n"
        "If you have further questions, just write here."
    ),
    "media_escalated": (
        "Your enquiry {number} has been passed to the {level}; you will hear from us by {due}."
    ),
    "media_closed": "Your enquiry {number} is closed. For anything new, just write here.",
}
