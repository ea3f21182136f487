from django.urls import include, path
from djangoproj import views

api = [path("hello/<str:name>", views.hello)]
urlpatterns = [
    path("health", views.health),
    path("api/", include(api)),
    path("boom", views.boom),
]
