"""The reference's two views, as its document writes them."""

from django.http import HttpResponse
from django.shortcuts import redirect, render


def set_session(request):
    request.session["username"] = "john_doe"
    request.session["is_logged_in"] = True
    return render(request, "set_session.html", {"message": "Session data set!"})


def get_session(request):
    return render(
        request,
        "get_session.html",
        {
            "username": request.session.get("username", "Guest"),
            "is_logged_in": request.session.get("is_logged_in", False),
        },
    )


def logout(request):
    request.session.flush()
    return redirect("get_session")


def healthz(request):
    return HttpResponse("ok\n")
