"""Everything the bot says to customers, in 简体 (source), 繁體 (converted with OpenCC) and
English. Placeholders are ``{name}``; a key missing in English falls back to Chinese."""

from __future__ import annotations

from functools import cache
from typing import Any

from bot.flows.texts_media import MEDIA_EN, MEDIA_ZH
from bot.flows.texts_survey import SURVEY_EN, SURVEY_ZH
from bot.nlp.text import Traditional

LANGUAGES = ("zh-hans", "zh-hant", "en")
LANGUAGE_NAMES = {"zh-hans": "简体中文", "zh-hant": "繁體中文", "en": "English"}

ZH: dict[str, str] = {
    "greeting": (
        "您好,这里是客户投诉服务。请直接描述您遇到的问题,我们会为您登记并尽快处理。\n"
        "隐私说明:您提供的信息只用于处理您的投诉,不会透露给无关人员。"
    ),
    "ask_content": "请用文字描述您遇到的问题(可以分几条发送,也可以发送照片或文件)。",
    "content_more": "已记录。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。",
    "content_more_n": "已记录 {n} 条。还有要补充的吗?可以继续发送文字或照片;说完了请点「说完了」。",
    "content_hint": "请用文字描述您的问题,也可以发送照片或文件。",
    "content_full": "内容已经很多了,我们先记录到这里。",
    "content_describe": "请再用一句话说明照片或文件反映的问题,这句话会作为您的问题描述。",
    "btn_done": "说完了 ✅",
    "category_suggest": "您反映的问题属于「{category}」,对吗?",
    "btn_yes": "是",
    "btn_no": "否,换一个",
    "category_pick": "请选择最接近的问题类型:",
    "category_hint": "请点击下面的按钮选择问题类型。",
    "ask_party": "被投诉的网点、门店或人员是?(没有可跳过)",
    "ask_reference": "有订单号、运单号或单据号吗?(没有可跳过)",
    "btn_skip": "跳过",
    "ask_contact": "请留下联系电话,方便我们与您联系:可以点下方按钮分享手机号,也可以直接输入。",
    "btn_share_contact": "📱 分享我的手机号",
    "btn_chat_only": "通过本对话联系我",
    "contact_invalid": (
        "这个号码好像不对。请输入手机号(如 13800138000)或带国家/地区区号的号码(如 +852 9123 4567)。"
    ),
    "contact_saved": "好的,联系方式已记录。",
    "contact_not_yours": (
        "这是别人的名片,不是您本人的号码。要留这个号码请直接输入;要分享您自己的手机号请点下方按钮。"
    ),
    "attachment_added": "附件已收到,会附在您的投诉里。",
    "attachment_words_added": "附件和文字已收到,都会附在您的投诉里。",
    "ask_outcome": "您希望得到怎样的处理?",
    "outcome_refund": "退款",
    "outcome_repair": "维修/更换",
    "outcome_apology": "道歉",
    "outcome_explanation": "给个说法/解释",
    "outcome_other": "其他",
    "text_too_long": "内容太长了,请精简到 {limit} 字以内。",
    "confirm": (
        "请核对您的投诉:\n\n"
        "问题描述:{content}\n"
        "附件:{attachments}\n"
        "问题类型:{category}\n"
        "被投诉对象:{party}\n"
        "单号:{reference}\n"
        "联系方式:{contact}\n"
        "期望处理:{outcome}\n\n"
        "确认无误请点「确认提交」,需要更改请点「修改」。"
    ),
    "attachments_count": "{n} 个",
    "btn_submit": "确认提交",
    "btn_edit": "修改",
    "edit_which": "要修改哪一项?",
    "field_content": "问题描述",
    "field_category": "问题类型",
    "field_party": "被投诉对象",
    "field_reference": "单号",
    "field_contact": "联系方式",
    "field_outcome": "期望处理",
    "ask_content_again": "请重新描述您的问题(之前的描述和附件将被替换)。",
    "submitted": (
        "已受理。您的投诉编号是 {number}。\n"
        "我们将在 {within}内({deadline}前)联系您。\n"
        "可随时发送 /status 查询进度;有新的情况也可以直接发消息补充。"
    ),
    "hours": "{n} 小时",
    "working_hours": "{n} 个工作小时",
    "minutes": "{n} 分钟",
    "working_minutes": "{n} 分钟(工作时间)",
    "working_days": "{n} 个工作日",
    "today": "今天 {time}",
    "tomorrow": "明天 {time}",
    "date": "{month}月{day}日 {time}",
    "not_provided": "未提供",
    "via_chat": "通过本对话",
    "cancelled": "已取消,本次内容没有提交。需要时发送 /new 重新开始。",
    "nothing_to_cancel": "当前没有进行中的登记。发送 /new 可以开始新的投诉。",
    "help": (
        "直接发消息描述问题即可投诉。\n"
        "/new 新的投诉\n/status 查询进度\n/cancel 取消当前登记\n/language 切换语言\n/help 帮助"
    ),
    "status_none": "您还没有投诉记录。直接描述问题即可开始投诉。",
    "status_header": "您的投诉:",
    "status_line": "{number} · {status} · {category} · {date} 受理",
    "status_new": "已受理,待处理",
    "status_claimed": "处理中",
    "status_in_progress": "处理中",
    "status_resolved": "已处理,待您确认",
    "status_reviewing": "处理中",  # a supervisor checks the result before the customer hears it
    "status_closed": "已结案",
    "status_reopened": "重新处理中",
    "status_invalid": "已答复",
    "desk_reply": "【{number}】客服回复:\n{text}",
    "desk_resolved": (
        "您的投诉 {number} 已处理。\n处理结果:{resolution}\n"
        "问题是否得到解决?请点击下方按钮告诉我们;{due} 前未答复的,视为已解决并结案。"
    ),
    # -- closure (闭环): the customer's answer to a resolution --
    "btn_solved": "已解决 ✅",
    "btn_not_solved": "未解决",
    "closure_thanks": "感谢您的确认,投诉 {number} 已结案。如有新的问题,直接发消息给我们即可。",
    "closure_reopened": (
        "很抱歉问题仍未解决。投诉 {number} 已重新处理,由{level}跟进,我们将在 {due} 前给您答复。"
    ),
    "closure_recorded": "您对投诉 {number} 处理结果的答复已经记录,无需再次操作。",
    "followup_which_resolved": (
        "这条消息是关于哪一个投诉?标有「已处理」的投诉正等待您确认处理结果。"
    ),
    "label_resolved": "已处理",
    "desk_invalid": (
        "您的投诉 {number} 经核实不属于有效投诉,说明如下:\n{explanation}\n"
        "如有疑问,直接回复本对话即可。"
    ),
    "desk_escalated": ("您的投诉 {number} 已升级,由{level}负责处理,我们会在 {due} 前给您答复。"),
    "desk_closed_unanswered": (
        "您的投诉 {number} 已处理完毕。确认期内未收到您的答复,已自动结案。"
        "如问题仍未解决,直接发消息告诉我们即可。"
    ),
    "followup_added": "已将您的补充记入投诉 {number},处理人员会看到。",
    "followup_which": "您有多个进行中的投诉,这条补充属于哪一个?",
    "btn_new_case": "这是新的投诉",
    "case_not_found": "找不到这个投诉。",
    "button_expired": "这个按钮已经失效了。",
    "language_pick": "请选择语言 / 請選擇語言 / Choose a language",
    "language_set": "已切换为简体中文。",
    "unsupported": "暂时无法处理这类消息,请发送文字、照片或文件。",
    "unprocessable": "抱歉,您刚才发送的消息我们未能处理,已通知工作人员跟进。您可以继续发送消息。",
    "resume": "我们继续刚才的登记:",
    # -- the dialogue's own (status by number, /new mid-intake, which-case buttons) --
    "status_not_yours": (
        "没有找到您名下编号为 {number} 的投诉。请核对编号;发送 /status 可以查看您的全部投诉。"
    ),
    "restart_ask": "放弃当前填写的投诉,重新开始?",
    "btn_restart": "放弃,重新开始",
    "btn_go_on": "继续填写",
}

EN: dict[str, str] = {
    "greeting": (
        "Hello, this is the customer complaints service. Tell us what happened and we will "
        "record it and get back to you.\nPrivacy: what you tell us is used only to handle your "
        "complaint and is not shared with anyone not involved."
    ),
    "ask_content": (
        "Please describe the problem in your own words (several messages are fine; photos and "
        "files too)."
    ),
    "content_more": (
        "Noted. Anything to add? Send more text or photos; when you are done, tap \u201cDone\u201d."
    ),
    "content_more_n": (
        "{n} messages recorded. Anything to add? Send more text or photos; when you are done, "
        "tap \u201cDone\u201d."
    ),
    "content_hint": "Please describe the problem in words; you can also send photos or files.",
    "content_full": "That is a lot already; we have recorded it up to here.",
    "content_describe": (
        "Please add one sentence saying what problem the photos or files show; it becomes the "
        "description of your complaint."
    ),
    "btn_done": "Done ✅",
    "category_suggest": "Is this about \u201c{category}\u201d?",
    "btn_yes": "Yes",
    "btn_no": "No, another",
    "category_pick": "Please pick the closest type of problem:",
    "category_hint": "Please tap one of the buttons to pick the type of problem.",
    "ask_party": "Which branch, store or person is the complaint about? (you can skip)",
    "ask_reference": "Do you have an order, waybill or receipt number? (you can skip)",
    "btn_skip": "Skip",
    "ask_contact": (
        "Please leave a phone number so we can reach you: tap the button below to share yours, "
        "or type it."
    ),
    "btn_share_contact": "📱 Share my phone number",
    "btn_chat_only": "Contact me in this chat",
    "contact_invalid": (
        "That number does not look right. Please type a mobile number (e.g. 13800138000) or a "
        "number with its country code (e.g. +852 9123 4567)."
    ),
    "contact_saved": "Thank you, noted.",
    "contact_not_yours": (
        "That contact card is someone else's, not your own number. To leave that number, type "
        "it; to share your own, tap the button below."
    ),
    "attachment_added": "Got the attachment; it will go with your complaint.",
    "attachment_words_added": "Got the attachment and your words; both go with your complaint.",
    "ask_outcome": "What would you like us to do?",
    "outcome_refund": "Refund",
    "outcome_repair": "Repair / replace",
    "outcome_apology": "An apology",
    "outcome_explanation": "An explanation",
    "outcome_other": "Something else",
    "text_too_long": "That is too long; please keep it under {limit} characters.",
    "confirm": (
        "Please check your complaint:\n\n"
        "Problem: {content}\n"
        "Attachments: {attachments}\n"
        "Type: {category}\n"
        "About: {party}\n"
        "Reference: {reference}\n"
        "Contact: {contact}\n"
        "You would like: {outcome}\n\n"
        "Tap \u201cSubmit\u201d if this is right, or \u201cChange\u201d to correct it."
    ),
    "attachments_count": "{n}",
    "btn_submit": "Submit",
    "btn_edit": "Change",
    "edit_which": "What would you like to change?",
    "field_content": "Problem",
    "field_category": "Type",
    "field_party": "About",
    "field_reference": "Reference",
    "field_contact": "Contact",
    "field_outcome": "Outcome",
    "ask_content_again": (
        "Please describe the problem again (it replaces the earlier description and files)."
    ),
    "submitted": (
        "Received. Your case number is {number}.\n"
        "We will contact you within {within} (by {deadline}).\n"
        "Send /status any time to see progress; you can also just write to add information."
    ),
    "hours": "{n} hours",
    "working_hours": "{n} working hours",
    "working_days": "{n} working days",
    "working_days_one": "{n} working day",  # English says "1 working day": see text()
    "hours_one": "{n} hour",
    "working_hours_one": "{n} working hour",
    "minutes": "{n} minutes",
    "minutes_one": "{n} minute",
    "working_minutes": "{n} working minutes",
    "working_minutes_one": "{n} working minute",
    "today": "today {time}",
    "tomorrow": "tomorrow {time}",
    "date": "{day} {month_name} {time}",
    "not_provided": "not given",
    "via_chat": "this chat",
    "cancelled": "Cancelled; nothing was submitted. Send /new to start again.",
    "nothing_to_cancel": "Nothing in progress. Send /new to start a new complaint.",
    "help": (
        "Just write to us to make a complaint.\n"
        "/new new complaint\n/status see progress\n/cancel cancel what you are entering\n"
        "/language change language\n/help this help"
    ),
    "status_none": "You have no complaints on record. Just describe a problem to start one.",
    "status_header": "Your complaints:",
    "status_line": "{number} · {status} · {category} · received {date}",
    "status_new": "received, waiting",
    "status_claimed": "being handled",
    "status_in_progress": "being handled",
    "status_resolved": "handled, waiting for your confirmation",
    "status_reviewing": "being handled",
    "status_closed": "closed",
    "status_reopened": "handled again",
    "status_invalid": "answered",
    "desk_reply": "[{number}] Our reply:\n{text}",
    "desk_resolved": (
        "Your complaint {number} has been handled.\nResult: {resolution}\n"
        "Is the problem solved? Please tell us with the buttons below; without an answer by "
        "{due} we take it as solved and close the case."
    ),
    "btn_solved": "Solved ✅",
    "btn_not_solved": "Not solved",
    "closure_thanks": (
        "Thank you for confirming. Complaint {number} is closed. If anything new comes up, "
        "just write to us."
    ),
    "closure_reopened": (
        "We are sorry the problem is not solved. Complaint {number} is being handled again by "
        "the {level}; we will answer you by {due}."
    ),
    "closure_recorded": "Your answer about the result of complaint {number} is already recorded.",
    "followup_which_resolved": (
        "Which complaint is this about? Those marked handled are waiting for you to confirm "
        "the result."
    ),
    "label_resolved": "handled",
    "desk_invalid": (
        "After checking, complaint {number} is not one we can accept as valid:\n"
        "{explanation}\nIf you have questions, just reply here."
    ),
    "desk_escalated": (
        "Your complaint {number} has been escalated to the {level}; you will hear from us by {due}."
    ),
    "desk_closed_unanswered": (
        "Your complaint {number} was resolved and, as we did not hear back within the "
        "confirmation period, it is now closed. If the problem persists, just write to us."
    ),
    "followup_added": "Added to your case {number}; the person handling it will see it.",
    "followup_which": "You have several open cases. Which one is this about?",
    "btn_new_case": "It is a new complaint",
    "case_not_found": "We cannot find that case.",
    "button_expired": "That button is no longer active.",
    "language_pick": "请选择语言 / 請選擇語言 / Choose a language",
    "language_set": "Switched to English.",
    "unsupported": "We cannot handle this kind of message yet; please send text, photos or files.",
    "unprocessable": (
        "Sorry, we could not process the message you just sent; our staff have been told and "
        "will follow up. You can keep writing."
    ),
    "resume": "Let us continue where we were:",
    # -- the dialogue's own (status by number, /new mid-intake, which-case buttons) --
    "status_not_yours": (
        "We found no complaint {number} of yours. Please check the number; send /status to "
        "see all your complaints."
    ),
    "restart_ask": "Drop the complaint you are entering and start again?",
    "btn_restart": "Drop it, start again",
    "btn_go_on": "Continue",
}
ZH |= SURVEY_ZH | MEDIA_ZH
EN |= SURVEY_EN | MEDIA_EN

_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@cache
def _to_traditional() -> Traditional:
    return Traditional()


@cache
def _traditional() -> dict[str, str]:
    table = {key: _to_traditional()(value) for key, value in ZH.items()}
    table["language_set"] = "已切換為繁體中文。"
    table["language_pick"] = ZH["language_pick"]
    return table


def text(lang: str, key: str, **values: Any) -> str:
    """The text ``key`` in ``lang`` with ``values`` filled in."""
    if lang == "en":
        if str(values.get("n")) == "1" and f"{key}_one" in EN:  # Chinese has no plural
            key = f"{key}_one"
        template = EN[key] if key in EN else ZH[key]
    elif lang == "zh-hant":
        template = _traditional()[key]
    else:
        template = ZH[key]
    if "month_name" in template and "month" in values:
        values = {**values, "month_name": _MONTHS[int(values["month"]) - 1]}
    return template.format(**values) if values else template


def pick_language(platform_code: str | None, default: str = "zh-hans") -> str:
    """Map a platform language code (zh-hans, zh-TW, zh-hk, en-US …) to one of ours."""
    code = (platform_code or "").lower().replace("_", "-")
    if code.startswith("zh"):
        traditional = any(tag in code for tag in ("hant", "tw", "hk", "mo"))
        return "zh-hant" if traditional else "zh-hans"
    if code.startswith("en"):
        return "en"
    return default


def convert(lang: str, chinese: str, english: str) -> str:
    """A name given in both languages (category names), in the customer's language."""
    if lang == "en":
        return english
    if lang == "zh-hant":
        return _to_traditional()(chinese)
    return chinese
