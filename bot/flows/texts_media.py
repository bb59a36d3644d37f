"""What a journalist hears (媒体问询, DOMAIN.md §5): no answer of substance, only who replies
and by when. Apart from ``texts.py`` to keep each file readable; merged into its tables there
(简体 is the source, 繁體 is converted from it)."""

from __future__ import annotations

MEDIA_ZH: dict[str, str] = {
    "ask_press": (
        "请问您是以媒体身份(如记者、编辑)问询吗?媒体问询由本公司负责部门统一答复;"
        "如果您是要投诉,请点「不是,我要投诉」,我们继续为您登记。"
    ),
    "btn_press_yes": "是,媒体问询",
    "btn_press_no": "不是,我要投诉",
    "press_words_kept": "已记录。",
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
    "media_invalid": "您的问询 {number} 已办结,说明如下:\n{explanation}",
    "media_added": "已将您的补充记入问询 {number},负责部门会看到。",
    "media_status_resolved": "已答复",
}

MEDIA_EN: dict[str, str] = {
    "ask_press": (
        "Are you contacting us as press (a journalist or an editor)? Press enquiries are "
        'answered by our responsible department; if you have a complaint, tap "No, a '
        'complaint" and we will go on recording it.'
    ),
    "btn_press_yes": "Yes, press enquiry",
    "btn_press_no": "No, a complaint",
    "press_words_kept": "Noted.",
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
    "media_invalid": "Your enquiry {number} is closed:\n{explanation}",
    "media_added": "Added to your enquiry {number}; the responsible department will see it.",
    "media_status_resolved": "answered",
}
