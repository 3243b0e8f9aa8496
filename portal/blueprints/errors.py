from flask import make_response, render_template

from portal.extensions import htmx

MESSAGES = {
    400: ("请求无效", "页面已过期或请求格式不正确，请刷新页面后重试。"),
    403: ("无权访问", "您的账号没有权限查看或操作此内容。"),
    404: ("页面不存在", "您要找的页面或记录不存在，或不在您的权限范围内。"),
    405: ("请求方式不正确", "请通过页面上的按钮操作。"),
    429: ("操作过于频繁", "请稍后再试。"),
    500: ("系统错误", "系统暂时无法处理您的请求，请稍后重试；如仍有问题请联系管理员。"),
}


def register_error_handlers(app):
    def handle(error):
        code = getattr(error, "code", 500) or 500
        title, message = MESSAGES.get(code, MESSAGES[500])
        if code == 400 and getattr(error, "description", "") and "CSRF" in str(error.description):
            message = "页面已过期（安全令牌失效），请刷新页面后重试。"
        template = "errors/_message.html" if htmx else "errors/error.html"
        response = make_response(render_template(template, code=code, title=title, message=message), code)
        response.vary.add("HX-Request")
        return response

    for code in MESSAGES:
        app.register_error_handler(code, handle)
